"""Trigger evaluation: throughput with 100 active trigger campaigns, and the calls and request
units of one delayed mail. ``python -m bench.triggers [--quick]``; prints JSON, and writes it to
bench/results/triggers.json.

(a) Throughput, warm, one process: the TriggerEvaluator on the unit tests' in-memory fakes (pure
CPU), then the trigger function's handler against the local stack (moto in a child process) with
stream batches of 100 records, interleaved batch by batch with the same handler for a project with
no campaign (the baseline).
(b) Per event kind, one record in a batch: every AWS call the handler makes (botocore hooks) and the
DynamoDB request units (bench.capacity's rules, transactions at twice the units).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session

from bench import trigger_workload as workload
from bench.aws import Stack, local_stack
from bench.capacity import index_writes, item_size, read_units, write_units
from bench.dynamo_calls import CallRecorder, DynamoCall
from bench.harness import counted_stdout, function_environment, load_handler, use_layers

RESULTS = Path(__file__).resolve().parent / "results" / "triggers.json"


# -- (a) the evaluator on fakes -------------------------------------------------------------------


def fakes_throughput(events: int, campaigns: int) -> dict[str, Any]:
    from tagmail.domain.projects import Project
    from tagmail.domain.settings import MailSettings
    from tagmail.services.triggers import PendingSends, TriggerEvaluator
    from tests.unit import fakes

    now = datetime.now(UTC)
    projects = fakes.FakeProjects()
    projects.add(Project("p1", "shop", now, MailSettings(timezone="Asia/Tokyo")))
    store = fakes.FakeCampaigns()
    for campaign in workload.campaigns("p1", count=campaigns, now=now):
        store.add(campaign)
    clock = fakes.FakeClock(now)
    entries = fakes.FakeCampaignEntries(fakes.FakeStats())
    caps, delayed = fakes.FakeFrequencyCaps(), fakes.FakeDelayedSends()
    pending = PendingSends(entries=entries, delayed=delayed, caps=caps, clock=clock)
    evaluator = TriggerEvaluator(
        campaigns=store,
        projects=projects,
        users=fakes.FakeUsers(),
        entries=entries,
        caps=caps,
        queue=fakes.FakeSendQueue(),
        delayed=delayed,
        pending=pending,
        messages=fakes.FakeMessages(),
        clock=clock,
    )
    stream = workload.events(f"f{campaigns}-")
    for _ in range(500):  # warm: the campaign cache is loaded
        evaluator.evaluate(workload.stored_event("p1", next(stream), now))
    batch = [(e.kind, workload.stored_event("p1", e, now)) for e in (next(stream) for _ in range(events))]
    per_kind: dict[str, list[float]] = {}
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    for kind, stored in batch:
        t = time.perf_counter()
        evaluator.evaluate(stored)
        per_kind.setdefault(kind, []).append(time.perf_counter() - t)
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    return {
        "campaigns": campaigns,
        "events": events,
        "events_per_second": events / wall,
        "cpu_us_per_event": cpu / events * 1e6,
        "us_per_event_median_by_kind": {k: statistics.median(v) * 1e6 for k, v in sorted(per_kind.items())},
        "executions_started": delayed.start_calls,
    }


# -- AWS calls ------------------------------------------------------------------------------------


class ServiceCalls:
    """Counts every API call of every botocore client created while installed."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._original: Any = None

    def install(self) -> ServiceCalls:
        original = self._original = botocore.session.Session.create_client
        counter = self

        def create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = original(session, service_name, *args, **kwargs)
            client.meta.events.register("after-call", counter._on_call)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.session.Session.create_client = self._original  # type: ignore[method-assign]

    def _on_call(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service} {operation}"] += 1


def _keys_of(call: DynamoCall) -> list[tuple[str, dict[str, Any], str]]:
    """(table, key, action) of every item a call writes."""
    p = call.params
    if call.operation == "TransactWriteItems":
        out = []
        for item in p["TransactItems"]:
            ((action, body),) = item.items()
            out.append((body["TableName"], body.get("Key") or body.get("Item"), action))
        return out
    if call.operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(p["TableName"], p.get("Key") or p.get("Item"), call.operation)]
    return []


class Units:
    """Request units of recorded DynamoDB calls: the written items are read before (observer) and
    after (``settle``) each call with a client the recorder does not watch."""

    def __init__(self, stack: Stack) -> None:
        self._client = stack.dynamodb_client()
        self._specs = {spec.physical_name: spec for spec in stack.tables.values()}
        self.active = True

    def _key(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._specs[table].key_attributes}

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self._client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def observe(self, call: DynamoCall) -> None:
        if not self.active:  # the throughput runs read nothing more
            return
        call.before["items"] = [self._get(t, self._key(t, k)) for t, k, _ in _keys_of(call)]

    def settle(self, call: DynamoCall) -> None:
        call.before["after"] = [self._get(t, self._key(t, k)) for t, k, _ in _keys_of(call)]

    def of(self, call: DynamoCall) -> dict[str, Any]:
        logical = lambda table: self._specs[table].logical_id  # noqa: E731
        if call.operation == "GetItem":
            found = (call.response or {}).get("Item")
            rru = read_units(item_size(found) if found else 0, bool(call.params.get("ConsistentRead")))
            return {"call": f"GetItem {logical(call.table)}", "rru": rru, "wru": 0.0}
        if call.operation == "Query":
            size = sum(item_size(item) for item in (call.response or {}).get("Items", []))
            rru = read_units(size, bool(call.params.get("ConsistentRead")))
            return {"call": f"Query {logical(call.table)} ({size} B)", "rru": rru, "wru": 0.0}
        parts, wru = [], 0.0
        transaction = call.operation == "TransactWriteItems"
        failed = call.error_code is not None
        for (table, _key, action), old, new in zip(
            _keys_of(call), call.before.get("items", []), call.before.get("after", []), strict=False
        ):
            size = max(item_size(old) if old else 0, item_size(new) if new else 0)
            units = write_units(size) * (2 if transaction else 1)
            index = 0.0 if failed else index_writes(self._specs[table], old, new if new != old else old)[0]
            wru += units + index
            parts.append(f"{action} {logical(table)} {size} B: {units:g}+{index:g} WRU")
        note = f" ({call.error_code})" if failed else ""
        return {"call": f"{call.operation}{note}: " + "; ".join(parts), "rru": 0.0, "wru": wru}


# -- (a) and (b) on the local stack ---------------------------------------------------------------


def _batch(project_id: str, stream: Any, size: int) -> tuple[dict[str, Any], Counter[str]]:
    now = datetime.now(UTC)
    events = [next(stream) for _ in range(size)]
    return {"Records": [workload.stream_record(project_id, e, now) for e in events]}, Counter(e.kind for e in events)


def stack_run(batches: int) -> dict[str, Any]:  # noqa: PLR0915 (one run, read top to bottom)
    with local_stack() as stack:
        os.environ.update(function_environment(stack, "TriggerFunction"))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        use_layers()
        units = Units(stack)
        services = ServiceCalls().install()
        recorder = CallRecorder(observer=units.observe).install()
        try:
            from tagmail import bootstrap

            bootstrap.reset()
            admin = bootstrap.project_admin()
            busy = admin.create_project("bench triggers").project_id
            idle = admin.create_project("bench no triggers").project_id
            for campaign in workload.campaigns(busy):
                bootstrap.campaign_store().save(campaign)
            handler = load_handler("trigger").lambda_handler
            context = workload.Context()
            results: dict[str, Any] = {}

            def invoke(event: dict[str, Any]) -> tuple[float, float]:
                with counted_stdout():
                    t, c = time.perf_counter(), time.process_time()
                    response = handler(event, context)
                    wall, cpu = time.perf_counter() - t, time.process_time() - c
                if response.get("batchItemFailures"):
                    raise RuntimeError(f"the trigger function reported failures: {response}")
                return wall, cpu

            # (b) one record at a time, counted (the campaign cache is warm after the first).
            invoke(_batch(busy, workload.events("warm-"), 1)[0])
            per_kind: dict[str, Any] = {}
            for kind in ("non_matching", "entry", "exit_after_entry", "exit_nothing_pending"):
                stream = workload.events(f"one-{kind}-")
                event = next(e for e in stream if e.kind == ("exit" if kind.startswith("exit") else kind))
                if kind == "exit_after_entry":  # the same user and cart entered a campaign before
                    entry = workload.TrackEvent(
                        "entry", event.actor, "e" + event.message_id, "step_1", event.properties
                    )
                    invoke({"Records": [workload.stream_record(busy, entry, datetime.now(UTC))]})
                recorder.clear()
                services.calls.clear()
                wall, cpu = invoke({"Records": [workload.stream_record(busy, event, datetime.now(UTC))]})
                for call in recorder.calls:
                    units.settle(call)
                rows = [units.of(call) for call in recorder.calls]
                per_kind[kind] = {
                    "event": event.event,
                    "cpu_ms": cpu * 1000,
                    "services": dict(sorted(services.calls.items())),
                    "dynamodb_calls": len(recorder.calls),
                    "rru": sum(r["rru"] for r in rows),
                    "wru": sum(r["wru"] for r in rows),
                    "calls": [f"{r['call']}" for r in rows],
                }
            results["per_event"] = per_kind

            # (a) throughput: batches of 100, the 100-campaign project and the empty one interleaved.
            recorder.uninstall()
            units.active = False
            recorder.calls.clear()
            busy_stream, idle_stream = workload.events("busy-"), workload.events("idle-")
            for _ in range(2):  # warm-up
                invoke(_batch(busy, busy_stream, 100)[0])
                invoke(_batch(idle, idle_stream, 100)[0])
            timing: dict[str, dict[str, list[float]]] = {"campaigns_100": {}, "campaigns_0": {}}
            services.calls.clear()
            kinds: Counter[str] = Counter()
            busy_calls: Counter[str] = Counter()
            for _ in range(batches):
                for name, project, stream in (("campaigns_100", busy, busy_stream), ("campaigns_0", idle, idle_stream)):
                    event, mix = _batch(project, stream, 100)
                    before = services.calls.copy()
                    wall, cpu = invoke(event)
                    timing[name].setdefault("wall", []).append(wall)
                    timing[name].setdefault("cpu", []).append(cpu)
                    if name == "campaigns_100":
                        kinds.update(mix)
                        busy_calls.update(services.calls - before)
            results["throughput"] = {
                name: {
                    "batches": batches,
                    "events": 100 * batches,
                    "events_per_second": 100 * batches / sum(t["wall"]),
                    "ms_per_batch_median": statistics.median(t["wall"]) * 1000,
                    "cpu_ms_per_batch_median": statistics.median(t["cpu"]) * 1000,
                    "cpu_ms_per_event": sum(t["cpu"]) / (100 * batches) * 1000,
                }
                for name, t in timing.items()
            }
            results["throughput"]["campaigns_100"]["mix"] = dict(kinds)
            results["throughput"]["campaigns_100"]["calls_per_batch"] = {
                k: v / batches for k, v in sorted(busy_calls.items())
            }
            return results
        finally:
            recorder.uninstall()
            services.uninstall()


# -- (b) the cost of a delayed mail ---------------------------------------------------------------

PRICES = {  # us-east-1 list prices, December 2026
    "sfn_standard_per_1000_transitions": 0.025,
    "scheduler_per_million_invocations": 1.00,  # after 14 million free a month
    "scheduler_free_invocations_per_month": 14_000_000,
    "sqs_per_million_requests": 0.40,
    "lambda_per_gb_second": 0.0000166667,  # x86_64
    "lambda_per_million_requests": 0.20,
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
}
LATENCY_MS = {"low": 5.0, "high": 10.0}  # per AWS call, as bench.cost models DynamoDB calls
CPU_SLOWDOWN = {"low": 1.0, "high": 1769 / 512}
BATCH = 100  # the trigger function's stream batch


def state_transitions(asl_path: Path) -> dict[str, Any]:
    """The states one execution runs, from the ASL: every state entered is a billed transition
    (retries too); the execution's start and end are events, not steps."""
    asl = json.loads(asl_path.read_text(encoding="utf-8"))
    path, state = [], asl["StartAt"]
    while state is not None:
        path.append(f"{state} ({asl['States'][state]['Type']})")
        body = asl["States"][state]
        state = None if body.get("End") else body.get("Next")
    return {"states_run": path, "billed_transitions": len(path)}


def memory_gb(template: Path) -> float:
    from bench.aws import _template

    return float(_template(template)["Globals"]["Function"]["MemorySize"]) / 1024


def delayed_mail_cost(per_event: dict[str, Any], throughput: dict[str, Any], root: Path) -> dict[str, Any]:
    entry = per_event["entry"]
    transitions = state_transitions(root / "statemachines" / "delayed_send.asl.json")
    gb = memory_gb(root / "template.yaml")
    cpu_per_event = throughput["campaigns_100"]["cpu_ms_per_event"]
    entry_calls = sum(v for k, v in entry["services"].items())
    p = PRICES
    out: dict[str, Any] = {"transitions": transitions, "memory_gb": gb, "per_million": {}}
    for bound in ("low", "high"):
        # The entry event's own work in a batch of 100: its CPU (the batch's mean per event, the
        # entry's own measured CPU if larger) and its AWS calls' round trips.
        ms = max(entry["cpu_ms"], cpu_per_event) * CPU_SLOWDOWN[bound] + entry_calls * LATENCY_MS[bound]
        lambda_duration = 1e6 * gb * ms / 1000 * p["lambda_per_gb_second"]
        lambda_requests = 1e6 / BATCH * p["lambda_per_million_requests"] / 1e6
        dynamo = (
            1e6 * (entry["wru"] * p["dynamodb_per_million_wru"] + entry["rru"] * p["dynamodb_per_million_rru"]) / 1e6
        )
        sfn = 1e6 * transitions["billed_transitions"] * p["sfn_standard_per_1000_transitions"] / 1000
        sqs_requests = 1 + 2 / 10  # SendMessage by the task; ReceiveMessage and DeleteMessageBatch per batch of 10
        sqs = 1e6 * sqs_requests * p["sqs_per_million_requests"] / 1e6
        out["per_million"][bound] = {
            "trigger_ms_per_mail": ms,
            "lambda_duration": lambda_duration,
            "lambda_requests": lambda_requests,
            "dynamodb": dynamo,
            "step_functions": sfn,
            "sqs": sqs,
            "total_step_functions_design": lambda_duration + lambda_requests + dynamo + sfn + sqs,
        }
    out["scheduler_per_million"] = {
        "within_free_tier": 0.0,
        "beyond_free_tier": 1e6 * p["scheduler_per_million_invocations"] / 1e6,
    }
    return out


def machine() -> dict[str, str]:
    import subprocess

    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "commit": commit,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.triggers")
    parser.add_argument("--quick", action="store_true", help="few iterations: does it all run?")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    root = Path(__file__).resolve().parent.parent
    use_layers()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    events = 2_000 if args.quick else 20_000
    results: dict[str, Any] = {
        "command": "python -m bench.triggers" + (" --quick" if args.quick else ""),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "fakes": {
            "campaigns_100": fakes_throughput(events, 100),
            "campaigns_0": fakes_throughput(events, 0),
        },
    }
    results["stack"] = stack_run(3 if args.quick else 20)
    results["delayed_mail"] = delayed_mail_cost(results["stack"]["per_event"], results["stack"]["throughput"], root)
    results["prices"] = PRICES
    results["duration_s"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    json.dump(results, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
