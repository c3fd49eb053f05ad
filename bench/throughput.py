"""Warm throughput of the ingest handler in one process, against the moto server, beside bare
PutItem/GetItem calls of the same items against the same server.

Every figure comes from the client side: ``time.perf_counter`` for latency, ``time.process_time``
for CPU (moto runs in another process, so its work is not in this process's CPU time). The time
spent inside DynamoDB calls is taken from botocore's event hooks (bench.dynamo_calls), so the
share of the handler's own work can be told apart from the time spent waiting for moto.
"""

from __future__ import annotations

import gc
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import payloads
from bench.aws import Stack
from bench.dynamo_calls import CallRecorder
from bench.harness import Handler, Project, counted_stdout


@dataclass
class Sample:
    wall: float
    cpu: float
    dynamo_wall: float
    dynamo_cpu: float
    dynamo_calls: int


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Summary:
    name: str
    description: str
    requests: int
    messages_per_request: int
    samples: list[Sample]
    stdout_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        n = self.messages_per_request
        walls = [s.wall for s in self.samples]
        total_wall = sum(walls)
        total_cpu = sum(s.cpu for s in self.samples)
        dynamo_wall = sum(s.dynamo_wall for s in self.samples)
        dynamo_cpu = sum(s.dynamo_cpu for s in self.samples)
        messages = self.requests * n
        return {
            "description": self.description,
            "requests": self.requests,
            "messages_per_request": n,
            "messages": messages,
            "events_per_second": messages / total_wall,
            "request_ms_p50": percentile(walls, 0.5) * 1000,
            "request_ms_p95": percentile(walls, 0.95) * 1000,
            "message_ms_p50": percentile(walls, 0.5) * 1000 / n,
            "message_ms_p95": percentile(walls, 0.95) * 1000 / n,
            "cpu_ms_per_request": total_cpu * 1000 / self.requests,
            "cpu_ms_per_message": total_cpu * 1000 / messages,
            "cpu_ms_per_message_p50": statistics.median(s.cpu for s in self.samples) * 1000 / n,
            "dynamo_calls_per_message": sum(s.dynamo_calls for s in self.samples) / messages,
            "dynamo_wall_ms_per_message": dynamo_wall * 1000 / messages,
            "dynamo_client_cpu_ms_per_message": dynamo_cpu * 1000 / messages,
            "wall_share_outside_dynamo": 1 - dynamo_wall / total_wall,
            "cpu_share_outside_dynamo": 1 - dynamo_cpu / total_cpu if total_cpu else float("nan"),
            "stdout_bytes_per_request": self.stdout_bytes / self.requests,
        }


@dataclass
class Series:
    name: str
    description: str
    requests: list[Callable[[], Any]]
    messages_per_request: int = 1


class Runner:
    """Runs prepared requests and keeps one Summary per series."""

    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder
        self.results: dict[str, Summary] = {}

    def measure(self, *series: Series, warmup: int) -> None:
        """Series measured together are interleaved, one request of each in turn, so that changes
        in the machine's speed (it is shared) hit them alike. The first `warmup` rounds are run
        but not counted."""
        samples: dict[str, list[Sample]] = {one.name: [] for one in series}
        printed = {one.name: 0 for one in series}
        for index in range(max(len(one.requests) for one in series)):
            for one in series:
                if index >= len(one.requests):
                    continue
                self.recorder.clear()
                with counted_stdout() as out:
                    started_wall, started_cpu = time.perf_counter(), time.process_time()
                    one.requests[index]()
                    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
                if index < warmup:
                    continue
                calls = self.recorder.calls
                printed[one.name] += out.bytes
                samples[one.name].append(
                    Sample(wall, cpu, sum(c.wall for c in calls), sum(c.cpu for c in calls), len(calls))
                )
        for one in series:
            summary = Summary(
                one.name, one.description, len(samples[one.name]), one.messages_per_request, samples[one.name]
            )
            summary.stdout_bytes = printed[one.name]
            self.results[one.name] = summary


def _handler_call(handler: Handler, event: dict[str, Any]) -> Callable[[], Any]:
    def call() -> None:
        response = handler(event, payloads.FakeContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"ingest answered {response['statusCode']}: {response['body']}")

    return call


@dataclass
class Sizes:
    identify: int
    track: int
    batch: int
    warmup: int


QUICK = Sizes(identify=40, track=100, batch=3, warmup=5)
FULL = Sizes(identify=300, track=1000, batch=30, warmup=20)


def run(
    *,
    handler: Handler,
    trigger_handler: Handler,
    project: Project,
    stack: Stack,
    track_item: dict[str, Any],
    sizes: Sizes = FULL,
) -> dict[str, Summary]:
    from tagmail import bootstrap

    runner = Runner(CallRecorder().install())
    key = project.write_key
    client = stack.dynamodb_client()
    events_table = stack.tables["EventsTable"].physical_name
    gc.collect()
    try:
        bootstrap.reset()

        # Identify: a new user each time, then the same users again with the same traits.
        users = [f"u-{uuid.uuid4().hex[:12]}" for _ in range(sizes.identify + sizes.warmup)]
        traits = {user: payloads.identify_traits(f"{user}@example.com") for user in users}

        def identify_requests() -> list[Callable[[], Any]]:
            return [
                _handler_call(
                    handler, payloads.http_event("identify", payloads.browser_identify(u, None, traits[u]), key)
                )
                for u in users
            ]

        runner.measure(
            Series("identify_new_user", "identify, first of a new user", identify_requests()), warmup=sizes.warmup
        )
        runner.measure(
            Series("identify_repeat", "identify, same user and traits again", identify_requests()), warmup=sizes.warmup
        )

        # Track, one analytics.js-shaped message per request over 50 users, interleaved with the
        # baselines: the same event item written by bare boto3 and bare pynamodb, and a bare read.
        count = sizes.track + sizes.warmup
        shoppers = [(f"u-{uuid.uuid4().hex[:12]}", str(uuid.uuid4())) for _ in range(50)]
        tracks = [
            _handler_call(handler, payloads.http_event("track", payloads.browser_track(*shoppers[i % 50]), key))
            for i in range(count)
        ]

        def put_item(sk: str) -> Callable[[], Any]:
            item = {**track_item, "sk": {"S": sk}}
            return lambda: client.put_item(
                TableName=events_table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnConsumedCapacity="TOTAL",
            )

        model = bootstrap.tables().events
        plain = model.from_raw_data(track_item)

        def pynamodb_save(sk: str) -> Callable[[], Any]:
            attributes = {name: getattr(plain, name) for name in model.get_attributes() if name not in ("pk", "sk")}
            item = model(plain.pk, sk, **attributes)
            return lambda: item.save(condition=model.pk.does_not_exist())

        def get_item() -> Any:
            return client.get_item(TableName=events_table, Key={"pk": track_item["pk"], "sk": track_item["sk"]})

        runner.measure(
            Series("track", "track, one per request", tracks),
            Series(
                "boto3_put_item",
                "bare boto3 PutItem of the same event item (same condition)",
                [put_item(f"m:bench-{uuid.uuid4().hex}") for _ in range(count)],
            ),
            Series(
                "pynamodb_put_item",
                "bare pynamodb Model.save of the same event item (same condition)",
                [pynamodb_save(f"m:bench-{uuid.uuid4().hex}") for _ in range(count)],
            ),
            Series(
                "boto3_get_item", "bare boto3 GetItem of the event item (eventually consistent)", [get_item] * count
            ),
            warmup=sizes.warmup,
        )

        # Batches of 100 tracks: analytics.js-shaped messages, and the smaller ones server SDKs send.
        batch_warmup = max(1, sizes.warmup // 10)
        server_users = [f"u-{uuid.uuid4().hex[:12]}" for _ in range(50)]

        def batch(messages: list[dict[str, Any]], browser: bool) -> Callable[[], Any]:
            return _handler_call(handler, payloads.http_event("batch", payloads.server_batch(messages), key, browser))

        rounds = range(sizes.batch + batch_warmup)
        runner.measure(
            Series(
                "batch_100_tracks",
                "/v1/batch of 100 tracks",
                [batch([payloads.browser_track(*shoppers[j % 50]) for j in range(100)], True) for _ in rounds],
                messages_per_request=100,
            ),
            Series(
                "batch_100_server_tracks",
                "/v1/batch of 100 server-SDK tracks",
                [batch([payloads.server_track(server_users[j % 50]) for j in range(100)], False) for _ in rounds],
                messages_per_request=100,
            ),
            warmup=batch_warmup,
        )

        # Trigger function: stream batches of 100 INSERT records of that item.
        def trigger_call(event: dict[str, Any]) -> Callable[[], Any]:
            def call() -> None:
                response = trigger_handler(event, payloads.FakeContext())
                if response.get("batchItemFailures"):
                    raise RuntimeError(f"trigger reported failures: {response}")

            return call

        stream_batches = [
            payloads.stream_event([{**track_item, "sk": {"S": f"m:{uuid.uuid4().hex}"}} for _ in range(100)])
            for _ in rounds
        ]
        runner.measure(
            Series(
                "trigger_batch_100",
                "trigger function, stream batch of 100 INSERT records",
                [trigger_call(e) for e in stream_batches],
                messages_per_request=100,
            ),
            warmup=batch_warmup,
        )
    finally:
        runner.recorder.uninstall()
        bootstrap.reset()
    return runner.results
