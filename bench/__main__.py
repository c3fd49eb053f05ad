"""Benchmarks of the ingest and send paths: `python -m bench` (or `make bench`). `--quick` for a smoke run.

Writes bench/results/latest.json and bench/results/latest.md, and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import (
    built_imports,
    coldstart,
    cost,
    harness,
    report,
    request_units,
    send_cost,
    send_path,
    send_report,
    throughput,
)
from bench import render as render_bench
from bench.aws import local_stack
from bench.capacity import item_size, write_units
from bench.mail_stack import mail_stack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def checkout() -> str:
    """The commit measured, and whether the code under measurement differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "layers", "functions", "template.yaml", "local"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes to the measured code" if changed else "")


def machine_facts() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {
        name: metadata.version(name) for name in ("boto3", "botocore", "pynamodb", "moto", "aws-lambda-powertools")
    }
    return {
        "CPU": f"{os.cpu_count()} x {model} ({platform.machine()})",
        "Python": f"{platform.python_implementation()} {platform.python_version()} (Lambda runs python3.12 on x86_64)",
        "OS": f"{platform.system()} {platform.release()}",
        "packages": ", ".join(f"{name} {version}" for name, version in versions.items()),
        "commit": checkout(),
    }


def event_item_sizes(item: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads(item["payload"]["S"])
    without = {key: value for key, value in payload.items() if key != "context"}
    slim = {**item, "payload": {"S": json.dumps(without, separators=(",", ":"), ensure_ascii=False)}}
    context_bytes = len(item["payload"]["S"].encode()) - len(slim["payload"]["S"].encode())
    return {
        "item_bytes": item_size(item),
        "wru": write_units(item_size(item)),
        "payload_bytes": len(item["payload"]["S"].encode()),
        "context_bytes": context_bytes,
        "item_bytes_without_context": item_size(slim),
        "wru_without_context": write_units(item_size(slim)),
        "attribute_bytes": {name: item_size({name: value}) for name, value in item.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations: checks that everything runs")
    args = parser.parse_args()
    harness.use_layers()
    sizes = throughput.QUICK if args.quick else throughput.FULL
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": "make bench" + ("  (python -m bench --quick)" if args.quick else ""),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
    }

    # Cold imports first, while nothing else runs on the machine.
    imports = coldstart.import_times(rounds=4 if args.quick else 15, no_bytecode_rounds=2 if args.quick else 7)
    tops = {function: coldstart.top_packages(function) for function in ("ingest", "trigger")}
    results["built_imports"] = built_imports.run(rounds=3 if args.quick else 11)
    # Rendering needs no stack: one core, nothing else running.
    results["render"] = render_bench.run(200 if args.quick else 3000)

    with local_stack() as stack:
        project = harness.setup(stack)
        ingest = harness.load_handler("ingest")
        trigger = harness.load_handler("trigger")

        units = request_units.run(ingest.lambda_handler, project, stack)
        track_item = request_units.stored_event_item(units["track"])
        measured = throughput.run(
            handler=ingest.lambda_handler,
            trigger_handler=trigger.lambda_handler,
            project=project,
            stack=stack,
            track_item=track_item,
            sizes=sizes,
        )
        probes = {
            function: coldstart.probe(
                function,
                {**harness.function_environment(stack, logical_id), "BENCH_WRITE_KEY": project.write_key},
                runs=1 if args.quick else 3,
            )
            for function, logical_id in (("ingest", "IngestFunction"), ("trigger", "TriggerFunction"))
        }

    with mail_stack() as mail:
        path = send_path.SendPath(mail)
        path.setup()
        send_calls = send_path.scenarios(path)
        send_timing = send_path.timing(path, send_path.QUICK if args.quick else send_path.FULL)
        results["send"] = {
            "webhook_types": list(mail.webhook_types),
            "request_bytes": send_timing.request_bytes,
            "calls": {name: scenario.as_dict() for name, scenario in send_calls.items()},
            "timing": {name: summary.as_dict() for name, summary in send_timing.summaries.items()},
            "cpu_split_ms": send_timing.cpu_split_ms,
        }

    results["throughput"] = {name: summary.as_dict() for name, summary in measured.items()}
    results["units"] = {
        name: {
            "description": scenario.description,
            "messages": scenario.messages,
            "per_message": scenario.per_message(),
            "calls": scenario.tally.lines,
        }
        for name, scenario in units.items()
    }
    results["event_items"] = {
        "track (analytics.js)": event_item_sizes(track_item),
        "track (server SDK)": event_item_sizes(request_units.stored_event_item(units["track_server_batch"])),
        "identify (analytics.js)": event_item_sizes(request_units.stored_event_item(units["identify_new_user"])),
    }
    results["coldstart"] = {
        "imports": imports,
        "top_packages": tops,
        "probes": {
            function: {
                "runs": len(runs),
                "clients_at_import": max(run["clients_at_import"] for run in runs),
                "connects_at_import": max(run["connects_at_import"] for run in runs),
                "first_call_ms": statistics.median(run["first_call_s"] for run in runs) * 1000,
                "second_call_ms": statistics.median(run["second_call_s"] for run in runs) * 1000,
                "clients_after_first_call": max(run["clients_after_first_call"] for run in runs),
                "client_creation_ms": statistics.median(run["client_creation_s"] for run in runs) * 1000,
            }
            for function, runs in probes.items()
        },
    }

    def workload(name: str, description: str, figures: str, scenario: str) -> cost.Workload:
        measured_figures = results["throughput"][figures]
        per = results["units"][scenario]["per_message"]
        n = measured_figures["messages_per_request"]
        return cost.Workload(
            name=name,
            description=description,
            events_per_request=n,
            cpu_ms_per_request=measured_figures["cpu_ms_per_request"],
            dynamo_calls_per_request=measured_figures["dynamo_calls_per_message"] * n,
            wru_per_event=per["wru"],
            rru_per_event=per["rru"],
        )

    workloads = [
        workload("track_single", "track, one per request (analytics.js)", "track", "track"),
        workload("track_batched", "track, batches of 100 (same messages)", "batch_100_tracks", "track_browser_batch"),
        workload(
            "track_batched_server",
            "track, batches of 100 (server SDK messages)",
            "batch_100_server_tracks",
            "track_server_batch",
        ),
        workload("identify_new", "identify, new user", "identify_new_user", "identify_new_user"),
        workload("identify_repeat", "identify, same traits again", "identify_repeat", "identify_repeat"),
    ]
    trigger_cpu = results["throughput"]["trigger_batch_100"]["cpu_ms_per_request"]
    # The layer ships its bytecode (layers/core/Makefile), so a cold start imports as with .pyc cached.
    init_ms = {
        f: results["coldstart"]["imports"]["cached"][f"import {f} app"]["import_ms"]
        + results["coldstart"]["probes"][f]["first_call_ms"]
        for f in ("ingest", "trigger")
    }
    results["cost"] = {
        "prices": cost.PRICES,
        "prices_as_of": cost.PRICES_AS_OF,
        "region": "us-east-1",
        "memory_mb": 512,
        "latency_ms_per_dynamodb_call": cost.LATENCY_MS,
        "cpu_slowdown_high": cost.CPU_SLOWDOWN_AT_512MB,
        "trigger_cpu_ms_per_batch": trigger_cpu,
        "rows": cost.compute(workloads, trigger_cpu),
        "storage_per_million": {
            name: cost.storage_per_million(sizes_["item_bytes"]) for name, sizes_ in results["event_items"].items()
        },
        "logs_per_million": {
            name: cost.logs_per_million(
                results["throughput"][name]["stdout_bytes_per_request"],
                results["throughput"][name]["messages_per_request"],
            )
            for name in ("track", "batch_100_tracks", "identify_new_user")
        },
        "cold_start": {f: {"init_ms_estimate": ms, "cost": cost.cold_start_cost(ms)} for f, ms in init_ms.items()},
    }

    def invocation(name: str) -> send_cost.Invocation:
        measured_figures = results["send"]["timing"][name]
        calls = results["send"]["calls"][name]
        # The trigger function gets stream batches of up to 100 (template.yaml); measured with 10.
        per_invocation = cost.TRIGGER_BATCH if name == "trigger_entry" else measured_figures["messages_per_request"]
        return send_cost.Invocation(
            name=name,
            description=measured_figures["description"],
            items_per_invocation=per_invocation,
            cpu_ms_per_invocation=measured_figures["cpu_ms_per_message"] * per_invocation,
            dynamo_calls_per_item=measured_figures["dynamo_calls_per_message"],
            mailgun_calls_per_item=calls["mailgun_calls"],
            rru_per_item=calls["rru"],
            wru_per_item=calls["wru"],
        )

    delivery_webhooks = tuple(k for k in ("accepted", "delivered") if k in results["send"]["webhook_types"])
    results["send"]["cost"] = send_cost.as_dict(
        {name: invocation(name) for name in results["send"]["timing"]}, delivery_webhooks
    )
    results["duration_s"] = time.perf_counter() - started

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    markdown = report.render(results) + "\n" + send_report.render(results)
    (RESULTS / "latest.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"(bench took {results['duration_s']:.0f} s; results in bench/results/latest.json and latest.md)")


if __name__ == "__main__":
    main()
