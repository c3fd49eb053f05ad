"""Benchmarks of the ingest path: `python -m bench` (or `make bench`). `--quick` for a smoke run.

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

from bench import coldstart, cost, harness, report, request_units, throughput
from bench.aws import local_stack
from bench.capacity import item_size, write_units

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
        "Python": f"{platform.python_implementation()} {platform.python_version()} (Lambda runs python3.12 on arm64)",
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
    init_ms = {
        f: results["coldstart"]["imports"]["no_bytecode"][f"import {f} app"]["import_ms"]
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
    results["duration_s"] = time.perf_counter() - started

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    markdown = report.render(results)
    (RESULTS / "latest.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"(bench took {results['duration_s']:.0f} s; results in bench/results/latest.json and latest.md)")


if __name__ == "__main__":
    main()
