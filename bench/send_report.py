"""The send path's figures as Markdown tables (the README quotes them)."""

from __future__ import annotations

from typing import Any

from bench.report import _ms, _table, _units

_CASES_PER_MAIL = ("send_first", "send_duplicate", "send_skipped")


def _usd(value: float) -> str:
    return f"${value:.5f}" if value < 0.01 else f"${value:.4f}" if value < 1 else f"${value:.3f}"


def render_throughput(results: dict[str, Any]) -> str:
    figures = results["render"]
    stages = figures["stages"]
    rows = []
    for name, stage in stages.items():
        share = stage.get("share_of_renderer")
        whole = name in ("bare_jinja2", "jinja2_sandbox", "renderer_total")
        rows.append(
            [
                f"{name}: {stage['description']}",
                _ms(stage["ms_per_mail"]),
                f"{stage['mails_per_second']:,.0f}" if whole else "",
                _ms(stage["cpu_ms_per_mail"]),
                f"{share:.0%}" if share is not None else "",
            ]
        )
    table = _table(["stage", "ms per mail (median of blocks)", "mails/s", "CPU ms per mail", "of render"], rows)
    sizes = figures["sizes"]
    bare = stages["bare_jinja2"]["ms_per_mail"]
    sandboxed = stages["tagmail_wrap"]["ms_per_mail"] + stages["tagmail_sandbox_render"]["ms_per_mail"]
    notes = [
        f"- {stages['renderer_total']['mails']} mails per stage over {figures['distinct_mails']} distinct"
        f" recipients and carts, in blocks of {figures['block']}; the renderer's stages add up to"
        f" {_ms(figures['sum_of_renderer_stages_ms'])} ms against {_ms(stages['renderer_total']['ms_per_mail'])} ms"
        " for the whole render.",
        f"- JinjaRenderer.render takes {figures['renderer_vs_bare']:.0f} times as long as the bare Jinja2 render;"
        f" tagmail's sandboxed template render (records + render) takes {sandboxed / bare:.1f} times the bare one"
        f" ({_ms(sandboxed - bare)} ms more per mail).",
        f"- Sizes: template HTML {sizes['template_html_chars']:,} characters; rendered"
        f" {sizes['rendered_html_chars']:,}; after CSS inlining {sizes['inlined_html_chars']:,}; with the footer"
        f" {sizes['final_html_chars']:,} ({sizes['final_html_bytes']:,} bytes); text part"
        f" {sizes['text_chars']:,} characters ({sizes['text_bytes']:,} bytes).",
    ]
    return table + "\n\n" + "\n".join(notes)


def send_calls(results: dict[str, Any]) -> str:
    rows = []
    for name, case in results["send"]["calls"].items():
        operations = case["dynamodb_operations"]
        rows.append(
            [
                f"{name}: {case['description']}",
                " + ".join(f"{n} {operation}" for operation, n in operations.items()) or "0",
                _units(case["rru"]),
                _units(case["wru"]),
                str(case["ssm_calls"]),
                str(case["mailgun_calls"]),
                str(case["sqs_calls"]),
                str(case["stdout_bytes"]),
            ]
        )
    table = _table(["case (one request)", "DynamoDB calls", "RRU", "WRU", "SSM", "Mailgun", "SQS", "log bytes"], rows)
    details = [f"- {name}: " + "; ".join(case["calls"]) for name, case in results["send"]["calls"].items()]
    return table + "\n\nCall by call:\n\n" + "\n".join(details)


def send_timing(results: dict[str, Any]) -> str:
    rows = []
    for name, figures in results["send"]["timing"].items():
        n = figures["messages_per_request"]
        rows.append(
            [
                f"{name} ({figures['description']})",
                str(figures["messages"]),
                f"{figures['events_per_second']:.0f}",
                _ms(figures["message_ms_p50"]),
                _ms(figures["message_ms_p95"]),
                _ms(figures["cpu_ms_per_message"]),
                _ms(figures["cpu_ms_per_request"]) if n > 1 else "",
                f"{figures['dynamo_calls_per_message']:.2f}",
                f"{figures['cpu_share_outside_dynamo']:.0%}",
            ]
        )
    return _table(
        [
            "what",
            "mails or events",
            "per second",
            "ms each p50",
            "ms each p95",
            "CPU ms each",
            "CPU ms per batch of 10",
            "DynamoDB calls each",
            "CPU outside DynamoDB calls",
        ],
        rows,
    )


def send_cpu_split(results: dict[str, Any]) -> str:
    """Where the send function's CPU time per mail goes."""
    rows = []
    for name, split in results["send"]["cpu_split_ms"].items():
        figures = results["send"]["timing"][name]
        total = figures["cpu_ms_per_message"]
        dynamo = figures["dynamo_client_cpu_ms_per_message"]
        rest = total - dynamo - split["render"] - split["mailgun"]
        rows.append(
            [
                name,
                _ms(total),
                f"{_ms(dynamo)} ({dynamo / total:.0%})",
                f"{_ms(split['render'])} ({split['render'] / total:.0%})",
                f"{_ms(split['mailgun'])} ({split['mailgun'] / total:.0%})",
                f"{_ms(rest)} ({rest / total:.0%})",
            ]
        )
    return _table(
        [
            "send function, CPU ms per mail",
            "total",
            "in DynamoDB calls (botocore, pynamodb's request)",
            "in JinjaRenderer.render",
            "in the Mailgun call (requests)",
            "the rest (Powertools, parsing, tagmail, pynamodb models, logs and metrics)",
        ],
        rows,
    )


def send_cost(results: dict[str, Any]) -> str:
    costs = results["send"]["cost"]
    rows = []
    for row in costs["rows"]:
        low, high = row["low"], row["high"]
        billed = "; ".join(
            f"{name} {low['functions'][name]['billed_ms']}-{high['functions'][name]['billed_ms']} ms"
            f" x {low['functions'][name]['invocations']:g}"
            for name in row["parts"]
        )

        def span(key: str, low: dict[str, Any] = low, high: dict[str, Any] = high) -> str:
            return _usd(low[key]) if low[key] == high[key] else f"{_usd(low[key])}-{_usd(high[key])}"

        rows.append(
            [
                row["description"],
                billed,
                span("lambda"),
                span("sqs"),
                span("dynamodb"),
                span("http_api"),
                f"**{span('total')}**",
                "the customer's plan" if row["name"] in ("trigger_mail", "mail_sent", "send_only") else "-",
            ]
        )
    return _table(
        [
            f"per {costs['per']:,}",
            "billed ms per invocation x invocations",
            "Lambda",
            "SQS",
            "DynamoDB",
            "HTTP API",
            "AWS total",
            "Mailgun",
        ],
        rows,
    )


def send_cost_worked(results: dict[str, Any]) -> str:
    costs = results["send"]["cost"]
    prices = costs["prices"]
    gb = costs["memory_mb"] / 1024
    per = costs["per"]
    row = next(r for r in costs["rows"] if r["name"] == "trigger_mail")
    lines = [f"**{row['description']}**, per {per:,} mails:", ""]
    requests_price = prices["lambda_per_million_requests"]
    gb_second = prices["lambda_x86_64_per_gb_second"]
    for name in row["parts"]:
        invocation = costs["invocations"][name]
        n = invocation["items_per_invocation"]
        calls = invocation["dynamo_calls_per_item"] * n
        mailgun = invocation["mailgun_calls_per_item"] * n
        for bound in ("low", "high"):
            function = row[bound]["functions"][name]
            slowdown = 1.0 if bound == "low" else costs["cpu_slowdown_high"]
            waits = f" + {calls:.4g} DynamoDB calls x {costs['latency_ms_per_dynamodb_call'][bound]:g} ms"
            if mailgun:
                waits += f" + {mailgun:.4g} Mailgun calls x {costs['latency_ms_per_mailgun_call'][bound]:g} ms"
            seconds = function["billed_ms"] / 1000
            money = _usd(function["lambda_requests"] + function["lambda_duration"])
            lines.append(
                f"- {name}, {bound} ({n} per invocation): {invocation['cpu_ms_per_invocation']:.2f} ms CPU"
                f" x {slowdown:.2f}{waits} = {function['modelled_ms']:.1f} ms, billed {function['billed_ms']} ms;"
                f" {function['invocations']:g} invocations x (${requests_price}/M + {gb:g} GB x {seconds:g} s"
                f" x ${gb_second:.10f}) = {money}"
            )
        dynamodb = _usd(row["low"]["functions"][name]["dynamodb"])
        lines.append(
            f"- {name}, DynamoDB: {per:,} x ({invocation['wru_per_item']:g} WRU"
            f" x ${prices['dynamodb_per_million_wru']}/M + {invocation['rru_per_item']:g} RRU"
            f" x ${prices['dynamodb_per_million_rru']}/M) = {dynamodb}"
        )
    sqs = costs["sqs_requests_per_mail"]
    lines.append(
        f"- SQS: {per:,} x ({' + '.join(f'{n:g} {op}' for op, n in sqs.items())})"
        f" x ${prices['sqs_per_million_requests']}/M = {_usd(row['low']['sqs'])}"
    )
    lines.append(
        f"- HTTP API: {per:,} x {row['http_requests']} webhooks x ${prices['http_api_per_million_requests']:.2f}/M"
        f" = {_usd(row['low']['http_api'])}"
    )
    lines.append("- SSM GetParameter: cached per container, standard parameters: $0")
    lines.append(f"- total: **{_usd(row['low']['total'])}-{_usd(row['high']['total'])}** per {per:,} mails")
    return "\n".join(lines)


def built_imports(results: dict[str, Any]) -> str:
    built = results.get("built_imports") or {}
    if "skipped" in built or not built:
        return f"Not measured: {built.get('skipped', 'no figures')}."
    with_pyc, without = built["imports"]["with_pyc"], built["imports"]["without_pyc"]
    rows = []
    for name, figures in with_pyc.items():
        other = without[name]
        saved = other["import_ms"] - figures["import_ms"]
        rows.append(
            [
                name,
                f"{_ms(figures['median_ms'])} ({_ms(figures['p25_ms'])}-{_ms(figures['p75_ms'])})",
                _ms(figures["import_ms"]),
                f"{_ms(other['median_ms'])} ({_ms(other['p25_ms'])}-{_ms(other['p75_ms'])})",
                _ms(other["import_ms"]),
                _ms(saved) if name.startswith("import") else "",
            ]
        )
    layer = built["layer"]
    kinds = ", ".join(f"{n} {kind}" for kind, n in layer["pyc_kinds"].items()) or "none"
    table = _table(
        [
            f"fresh `python3.12 -I -S -B`, {built['rounds']} rounds",
            "built layer, with .pyc: wall ms median (p25-p75)",
            "minus the interpreter",
            "same layer without .pyc",
            "minus the interpreter",
            "saved ms",
        ],
        rows,
    )
    return (
        table + f"\n\nThe built layer: {layer['modules']} modules, {layer['pyc_files']} .pyc files ({kinds});"
        f" {layer['layer_bytes'] / 1e6:.1f} MB unzipped, of which .pyc {layer['pyc_bytes'] / 1e6:.1f} MB."
    )


def render(results: dict[str, Any]) -> str:
    parts = [
        "## Render throughput (one core)",
        render_throughput(results),
        "## Send path: calls and request units",
        send_calls(results),
        "## Send path: time per mail and per event (warm, one process, moto and the sandbox in another)",
        send_timing(results),
        send_cpu_split(results),
        f"## Send path: cost per {results['send']['cost']['per']:,}",
        send_cost(results),
        "### The computation",
        send_cost_worked(results),
        "## Cold imports from the built output (python3.12)",
        built_imports(results),
    ]
    return "\n\n".join(parts) + "\n"
