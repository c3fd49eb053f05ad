"""AWS cost per million tracked events at list prices, from the measured figures.

Lambda's billed duration is modelled, not measured: the handler's CPU time measured here plus one
network round trip per DynamoDB call it makes (the moto server's latency says nothing about
DynamoDB's). Two bounds are given:
- low: CPU at this machine's speed, 5 ms per DynamoDB call;
- high: CPU slowed by 1769/512 (Lambda gives a function one full vCPU at 1,769 MB and a share
  proportional to memory below that; the template gives 512 MB), 10 ms per DynamoDB call.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

PRICES_AS_OF = "2026-12"
PRICES = {
    "http_api_per_million_requests": 1.00,  # first 300 million requests a month
    "lambda_per_million_requests": 0.20,
    "lambda_x86_64_per_gb_second": 0.0000166667,  # the functions are x86_64 (template.yaml)
    "dynamodb_per_million_wru": 0.625,  # on-demand, standard table class
    "dynamodb_per_million_rru": 0.125,
    "dynamodb_stream_reads_by_lambda": 0.0,
    # Beyond the per-request path (reported separately, not in the totals):
    "dynamodb_storage_per_gb_month": 0.25,
    "dynamodb_pitr_per_gb_month": 0.20,
    "cloudwatch_logs_ingest_per_gb": 0.50,
}
MEMORY_GB = 512 / 1024
FULL_VCPU_MB = 1769
CPU_SLOWDOWN_AT_512MB = FULL_VCPU_MB / 512
LATENCY_MS = {"low": 5.0, "high": 10.0}
TRIGGER_BATCH = 100
RETENTION_DAYS = 400


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    events_per_request: int
    cpu_ms_per_request: float
    dynamo_calls_per_request: float
    wru_per_event: float
    rru_per_event: float


@dataclass(frozen=True)
class Bound:
    lambda_ms_per_request: float
    billed_ms_per_request: int
    http_api: float
    lambda_requests: float
    lambda_duration: float
    dynamodb_writes: float
    dynamodb_reads: float
    trigger: float

    @property
    def total(self) -> float:
        return (
            self.http_api
            + self.lambda_requests
            + self.lambda_duration
            + self.dynamodb_writes
            + self.dynamodb_reads
            + self.trigger
        )


def lambda_gb_seconds_cost(billed_ms: float) -> float:
    return MEMORY_GB * billed_ms / 1000 * PRICES["lambda_x86_64_per_gb_second"]


def per_million(workload: Workload, trigger_cpu_ms_per_batch: float, bound: str) -> Bound:
    events = 1_000_000
    requests = events / workload.events_per_request
    slowdown = 1.0 if bound == "low" else CPU_SLOWDOWN_AT_512MB
    lambda_ms = workload.cpu_ms_per_request * slowdown + workload.dynamo_calls_per_request * LATENCY_MS[bound]
    billed = math.ceil(lambda_ms)
    trigger_invocations = events / TRIGGER_BATCH
    trigger_billed = math.ceil(trigger_cpu_ms_per_batch * slowdown)
    return Bound(
        lambda_ms_per_request=lambda_ms,
        billed_ms_per_request=billed,
        http_api=requests / 1e6 * PRICES["http_api_per_million_requests"],
        lambda_requests=requests / 1e6 * PRICES["lambda_per_million_requests"],
        lambda_duration=requests * lambda_gb_seconds_cost(billed),
        dynamodb_writes=workload.wru_per_event * PRICES["dynamodb_per_million_wru"],
        dynamodb_reads=workload.rru_per_event * PRICES["dynamodb_per_million_rru"],
        trigger=trigger_invocations / 1e6 * PRICES["lambda_per_million_requests"]
        + trigger_invocations * lambda_gb_seconds_cost(trigger_billed),
    )


def storage_per_million(event_item_bytes: int) -> dict[str, float]:
    """Events stay RETENTION_DAYS before TTL removes them (TTL deletes are free); each item is
    billed with 100 bytes of overhead; point-in-time recovery is on in the template."""
    gigabytes = 1_000_000 * (event_item_bytes + 100) / 1024**3
    months = RETENTION_DAYS / (365.25 / 12)
    return {
        "gigabytes": gigabytes,
        "months": months,
        "storage": gigabytes * months * PRICES["dynamodb_storage_per_gb_month"],
        "pitr": gigabytes * months * PRICES["dynamodb_pitr_per_gb_month"],
    }


def logs_per_million(stdout_bytes_per_request: float, events_per_request: int) -> float:
    requests = 1_000_000 / events_per_request
    return requests * stdout_bytes_per_request / 1024**3 * PRICES["cloudwatch_logs_ingest_per_gb"]


def cold_start_cost(init_ms: float) -> float:
    """What one cold start's INIT phase costs (billed since August 2025 for managed runtimes)."""
    return lambda_gb_seconds_cost(math.ceil(init_ms))


def compute(workloads: list[Workload], trigger_cpu_ms_per_batch: float) -> list[dict[str, Any]]:
    rows = []
    for workload in workloads:
        rows.append(
            {
                "workload": asdict(workload),
                "low": {**asdict(per_million(workload, trigger_cpu_ms_per_batch, "low"))},
                "high": {**asdict(per_million(workload, trigger_cpu_ms_per_batch, "high"))},
            }
        )
        for bound in ("low", "high"):
            rows[-1][bound]["total"] = per_million(workload, trigger_cpu_ms_per_batch, bound).total
    return rows
