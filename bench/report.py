"""The benchmark's figures as Markdown tables (the README quotes them)."""

from __future__ import annotations

from typing import Any


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 0.1 else f"${value:.3f}"


def _units(value: float) -> str:
    return f"{value:g}"


def machine(results: dict[str, Any]) -> str:
    facts = results["machine"]
    return "\n".join(f"- {name}: {value}" for name, value in facts.items())


def throughput(results: dict[str, Any]) -> str:
    rows = []
    for name, figures in results["throughput"].items():
        rows.append(
            [
                f"{name} ({figures['description']})",
                str(figures["messages"]),
                f"{figures['events_per_second']:.0f}",
                _ms(figures["message_ms_p50"]),
                _ms(figures["message_ms_p95"]),
                _ms(figures["cpu_ms_per_message"]),
                f"{figures['dynamo_calls_per_message']:.2f}",
                f"{figures['wall_share_outside_dynamo']:.0%}",
                f"{figures['cpu_share_outside_dynamo']:.0%}",
            ]
        )
    return _table(
        [
            "what",
            "messages",
            "events/s",
            "ms/message p50",
            "ms/message p95",
            "CPU ms/message",
            "DynamoDB calls/message",
            "wall time outside DynamoDB calls",
            "CPU outside DynamoDB calls",
        ],
        rows,
    )


def units(results: dict[str, Any]) -> str:
    rows = []
    for name, scenario in results["units"].items():
        per = scenario["per_message"]
        rows.append(
            [
                f"{name}: {scenario['description']}",
                _units(per["get_item"]),
                _units(per["put_item"]),
                _units(per["rru"]),
                _units(per["wru_table"]),
                _units(per["wru_index"]),
                f"**{_units(per['wru'])}**",
                _units(per["moto_reported_units"]),
            ]
        )
    table = _table(
        ["case (per message)", "GetItem", "PutItem", "RRU", "WRU table", "WRU indexes", "WRU total", "moto says"],
        rows,
    )
    details = []
    for name, scenario in results["units"].items():
        if scenario["messages"] == 1:
            details.append(f"- {name}: " + "; ".join(scenario["calls"]))
        else:
            details.append(f"- {name}: each message: {scenario['calls'][0]}")
    return table + "\n\nCall by call:\n\n" + "\n".join(details)


def event_item(results: dict[str, Any]) -> str:
    rows = []
    for name, sizes in results["event_items"].items():
        rows.append(
            [
                name,
                str(sizes["item_bytes"]),
                str(sizes["wru"]),
                str(sizes["payload_bytes"]),
                str(sizes["context_bytes"]),
                str(sizes["item_bytes_without_context"]),
                str(sizes["wru_without_context"]),
            ]
        )
    return _table(
        ["stored event", "item bytes", "WRU", "payload attribute", "of which context", "item without context", "WRU"],
        rows,
    )


def coldstart(results: dict[str, Any]) -> str:
    cold = results["coldstart"]
    rows = []
    for name, cached in cold["imports"]["cached"].items():
        uncompiled = cold["imports"]["no_bytecode"][name]
        rows.append(
            [
                name,
                f"{_ms(cached['median_ms'])} ({_ms(cached['p25_ms'])}-{_ms(cached['p75_ms'])})",
                _ms(cached["import_ms"]),
                f"{_ms(uncompiled['median_ms'])} ({_ms(uncompiled['p25_ms'])}-{_ms(uncompiled['p75_ms'])})",
                _ms(uncompiled["import_ms"]),
            ]
        )
    runs = cold["imports"]["cached"]["python -c pass"]["runs"]
    uncompiled_runs = cold["imports"]["no_bytecode"]["python -c pass"]["runs"]
    table = _table(
        [
            "fresh interpreter",
            f"wall ms, median (p25-p75) of {runs}, .pyc cached",
            "minus `pass`",
            f"wall ms, median (p25-p75) of {uncompiled_runs}, no .pyc outside the stdlib",
            "minus `pass`",
        ],
        rows,
    )
    probe_rows = []
    for function, probe in cold["probes"].items():
        probe_rows.append(
            [
                function,
                str(probe["clients_at_import"]),
                str(probe["connects_at_import"]),
                f"{_ms(probe['first_call_ms'])} (of which creating clients: {_ms(probe['client_creation_ms'])})",
                _ms(probe["second_call_ms"]),
                str(probe["clients_after_first_call"]),
            ]
        )
    probes = _table(
        [
            "handler",
            "clients created by the import",
            "connections opened by the import",
            "first invocation ms (median)",
            "second invocation ms",
            "clients created by the first invocation",
        ],
        probe_rows,
    )
    packages = []
    for function, tops in cold["top_packages"].items():
        packages.append(f"- {function}: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in tops))
    return (
        table
        + "\n\n"
        + probes
        + "\n\nSelf import time by top-level package (`-X importtime`, one run):\n\n"
        + "\n".join(packages)
    )


def cost(results: dict[str, Any]) -> str:
    rows = []
    for row in results["cost"]["rows"]:
        workload, low, high = row["workload"], row["low"], row["high"]
        rows.append(
            [
                workload["description"],
                f"{1_000_000 / workload['events_per_request']:,.0f}",
                f"{workload['cpu_ms_per_request']:.2f} + {workload['dynamo_calls_per_request']:.4g} calls",
                f"{low['billed_ms_per_request']}-{high['billed_ms_per_request']}",
                _usd(low["http_api"]),
                _usd(low["lambda_requests"]),
                f"{_usd(low['lambda_duration'])}-{_usd(high['lambda_duration'])}",
                _usd(low["dynamodb_writes"]),
                _usd(low["dynamodb_reads"]),
                f"{_usd(low['trigger'])}-{_usd(high['trigger'])}",
                f"**{_usd(low['total'])}-{_usd(high['total'])}**",
            ]
        )
    return _table(
        [
            "per million events",
            "API requests",
            "CPU ms/request + DynamoDB calls",
            "billed ms/request",
            "HTTP API",
            "Lambda requests",
            "Lambda duration",
            "DynamoDB writes",
            "DynamoDB reads",
            "trigger fn",
            "total",
        ],
        rows,
    )


def cost_worked(results: dict[str, Any]) -> str:
    """The arithmetic behind each row of the cost table, written out."""
    costs = results["cost"]
    prices = costs["prices"]
    gb = costs["memory_mb"] / 1024
    slowdown = costs["cpu_slowdown_high"]
    latency = costs["latency_ms_per_dynamodb_call"]
    trigger_cpu = costs["trigger_cpu_ms_per_batch"]
    sections = []
    for row in costs["rows"]:
        w, low, high = row["workload"], row["low"], row["high"]
        requests = 1_000_000 / w["events_per_request"]
        calls = w["dynamo_calls_per_request"]
        cpu = w["cpu_ms_per_request"]
        gbs = prices["lambda_x86_64_per_gb_second"]
        lines = [
            f"**{w['description']}** ({requests:,.0f} requests of {w['events_per_request']} event(s)):",
            "",
            f"- HTTP API: {requests:,.0f} x ${prices['http_api_per_million_requests']:.2f}/M = {_usd(low['http_api'])}",
            f"- Lambda requests: {requests:,.0f} x ${prices['lambda_per_million_requests']:.2f}/M"
            f" = {_usd(low['lambda_requests'])}",
            f"- Lambda duration, low: {cpu:.2f} ms CPU + {calls:.4g} DynamoDB calls x {latency['low']:g} ms"
            f" = {low['lambda_ms_per_request']:.1f} ms, billed {low['billed_ms_per_request']} ms;"
            f" {requests:,.0f} x {gb:g} GB x {low['billed_ms_per_request'] / 1000:g} s x ${gbs:.10f}"
            f" = {_usd(low['lambda_duration'])}",
            f"- Lambda duration, high: {cpu:.2f} ms x {slowdown:.2f}"
            f" + {calls:.4g} DynamoDB calls x {latency['high']:g} ms"
            f" = {high['lambda_ms_per_request']:.1f} ms, billed {high['billed_ms_per_request']} ms;"
            f" {requests:,.0f} x {gb:g} GB x {high['billed_ms_per_request'] / 1000:g} s x ${gbs:.10f}"
            f" = {_usd(high['lambda_duration'])}",
            f"- DynamoDB: {w['wru_per_event']:g} WRU x 1,000,000 x ${prices['dynamodb_per_million_wru']}/M"
            f" = {_usd(low['dynamodb_writes'])}; {w['rru_per_event']:g} RRU x 1,000,000"
            f" x ${prices['dynamodb_per_million_rru']}/M = {_usd(low['dynamodb_reads'])}",
            f"- trigger function: 1,000,000 / 100 = 10,000 invocations x ${prices['lambda_per_million_requests']:.2f}/M"
            f" + 10,000 x {gb:g} GB x ({trigger_cpu:.1f} ms CPU per batch, billed"
            f" {-(-trigger_cpu // 1):.0f}-{-(-trigger_cpu * slowdown // 1):.0f} ms) x ${gbs:.10f}"
            f" = {_usd(low['trigger'])}-{_usd(high['trigger'])}; reading the stream: $0",
            f"- total: **{_usd(low['total'])}-{_usd(high['total'])}** per million events",
        ]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def cost_beyond_requests(results: dict[str, Any]) -> str:
    costs = results["cost"]
    prices = costs["prices"]
    lines = [
        f"Stored events (kept {costs['storage_per_million'][next(iter(costs['storage_per_million']))]['months']:.1f}"
        f" months: EventRetentionDays 400; item + 100 B overhead; storage ${prices['dynamodb_storage_per_gb_month']}"
        f" and point-in-time recovery ${prices['dynamodb_pitr_per_gb_month']} per GB-month), per million events:",
        "",
    ]
    for name, storage in costs["storage_per_million"].items():
        total = storage["storage"] + storage["pitr"]
        lines.append(
            f"- {name}: {storage['gigabytes']:.2f} GB, storage {_usd(storage['storage'])}"
            f" + PITR {_usd(storage['pitr'])} = {_usd(total)} over the retention period"
        )
    lines += [
        "",
        f"CloudWatch Logs (${prices['cloudwatch_logs_ingest_per_gb']}/GB ingested), the handlers' own output:",
    ]
    for name, value in costs["logs_per_million"].items():
        per_request = results["throughput"][name]["stdout_bytes_per_request"]
        lines.append(f"- {name}: {per_request:.0f} B per request, {_usd(value)} per million events")
    lines += ["", "Cold starts (INIT is billed since August 2025), this machine's speed:"]
    for name, cold in costs["cold_start"].items():
        lines.append(
            f"- {name}: import (the layer ships its .pyc) + first invocation = {cold['init_ms_estimate']:.0f} ms,"
            f" ${cold['cost']:.7f} per cold start at 512 MB"
        )
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    parts = [
        "## Machine",
        machine(results),
        "## Ingest throughput (warm, one process, moto server in another process)",
        throughput(results),
        "## DynamoDB calls and request units",
        units(results),
        "## Stored event sizes",
        event_item(results),
        "## Cold imports",
        coldstart(results),
        "## Cost per million events",
        cost(results),
        "### The computation",
        cost_worked(results),
        "### Beyond the per-request path (not in the totals above)",
        cost_beyond_requests(results),
    ]
    return "\n\n".join(parts) + "\n"
