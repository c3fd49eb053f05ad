"""AWS cost per 1,000 mails (and per 1,000 webhook events or unsubscribes) at list prices, from the
measured CPU time and the counted calls and request units.

Lambda's billed duration is modelled as in bench.cost: CPU time measured here (low) or slowed by
1769/512 (high: the share of a vCPU a 512 MB function gets), plus a round trip per DynamoDB call
(5 / 10 ms) and per Mailgun call (an assumption: 100 / 400 ms; the sandbox's latency says nothing
about Mailgun's). The send function gets SQS batches of 10 (its event source's BatchSize) and is
billed per batch; the trigger function gets stream batches of 100; the webhook and unsubscribe
functions are invoked once per request.

SQS: each mail is one SendMessage by its producer (the trigger function or the delayed-send state
machine), and one tenth of a ReceiveMessage and of a DeleteMessageBatch by Lambda's poller.
SSM GetParameter (standard parameters) is free and cached per container, so it adds no request per
mail. Mailgun's own charge is the customer's plan and is not computed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bench.cost import CPU_SLOWDOWN_AT_512MB, LATENCY_MS, MEMORY_GB, PRICES

SEND_PRICES = {
    "lambda_per_million_requests": PRICES["lambda_per_million_requests"],
    "lambda_x86_64_per_gb_second": PRICES["lambda_x86_64_per_gb_second"],
    "sqs_per_million_requests": 0.40,  # standard queue, beyond the free tier; per 64 KB chunk
    "http_api_per_million_requests": PRICES["http_api_per_million_requests"],
    "dynamodb_per_million_wru": PRICES["dynamodb_per_million_wru"],
    "dynamodb_per_million_rru": PRICES["dynamodb_per_million_rru"],
    "ssm_standard_parameter_api": 0.0,
}
MAILGUN_LATENCY_MS = {"low": 100.0, "high": 400.0}
SQS_REQUESTS_PER_MAIL = {"SendMessage": 1.0, "ReceiveMessage": 0.1, "DeleteMessageBatch": 0.1}
PER = 1000


@dataclass(frozen=True)
class Invocation:
    """One kind of request to one function, as measured."""

    name: str
    description: str
    items_per_invocation: int  # send requests per SQS batch, or 1
    cpu_ms_per_invocation: float
    dynamo_calls_per_item: float
    mailgun_calls_per_item: float
    rru_per_item: float
    wru_per_item: float


def billed_ms(invocation: Invocation, bound: str) -> tuple[float, int]:
    slowdown = 1.0 if bound == "low" else CPU_SLOWDOWN_AT_512MB
    n = invocation.items_per_invocation
    ms = (
        invocation.cpu_ms_per_invocation * slowdown
        + invocation.dynamo_calls_per_item * n * LATENCY_MS[bound]
        + invocation.mailgun_calls_per_item * n * MAILGUN_LATENCY_MS[bound]
    )
    return ms, math.ceil(ms)


def function_cost(invocation: Invocation, bound: str) -> dict[str, float]:
    """Lambda and DynamoDB cost of PER items (mails, events or unsubscribes)."""
    invocations = PER / invocation.items_per_invocation
    ms, billed = billed_ms(invocation, bound)
    return {
        "invocations": invocations,
        "modelled_ms": ms,
        "billed_ms": billed,
        "lambda_requests": invocations / 1e6 * SEND_PRICES["lambda_per_million_requests"],
        "lambda_duration": invocations * MEMORY_GB * billed / 1000 * SEND_PRICES["lambda_x86_64_per_gb_second"],
        "dynamodb": PER
        * (
            invocation.wru_per_item * SEND_PRICES["dynamodb_per_million_wru"]
            + invocation.rru_per_item * SEND_PRICES["dynamodb_per_million_rru"]
        )
        / 1e6,
    }


def sqs_cost() -> float:
    return PER * sum(SQS_REQUESTS_PER_MAIL.values()) / 1e6 * SEND_PRICES["sqs_per_million_requests"]


def http_api_cost() -> float:
    return PER / 1e6 * SEND_PRICES["http_api_per_million_requests"]


@dataclass(frozen=True)
class Row:
    name: str
    description: str
    parts: tuple[str, ...]  # invocation names, each PER times
    through_queue: bool  # SQS requests for each item
    http_requests: int  # API Gateway requests per item


def rows(delivery_webhooks: tuple[str, ...]) -> tuple[Row, ...]:
    """The rows of the cost table; `delivery_webhooks`: what Mailgun posts for every delivered
    mail (of accepted and delivered, those tagmail registers)."""
    hooks = " and ".join(delivery_webhooks)
    webhook_parts = tuple(f"webhook_{kind}" for kind in delivery_webhooks)
    return (
        Row(
            "trigger_mail",
            f"a trigger mail from entry to delivery: trigger + send + the {hooks} webhook(s)",
            ("trigger_entry", "send_first", *webhook_parts),
            through_queue=True,
            http_requests=len(delivery_webhooks),
        ),
        Row(
            "mail_sent",
            f"a mail sent and delivered: send + Mailgun's {hooks} webhook(s)",
            ("send_first", *webhook_parts),
            through_queue=True,
            http_requests=len(delivery_webhooks),
        ),
        *OTHER_ROWS,
    )


OTHER_ROWS = (
    Row("send_only", "the send function alone (first send)", ("send_first",), through_queue=True, http_requests=0),
    Row(
        "duplicate",
        "a send request enqueued again (stopped by dedupe)",
        ("send_duplicate",),
        through_queue=True,
        http_requests=0,
    ),
    Row(
        "skipped",
        "a send request for an unsubscribed user (skipped)",
        ("send_skipped",),
        through_queue=True,
        http_requests=0,
    ),
    Row("opened", "an open reported by Mailgun's webhook", ("webhook_opened",), through_queue=False, http_requests=1),
    Row(
        "unsubscribed",
        "a one-click unsubscribe (RFC 8058 POST)",
        ("unsubscribe_one_click",),
        through_queue=False,
        http_requests=1,
    ),
)


def compute(invocations: dict[str, Invocation], delivery_webhooks: tuple[str, ...]) -> list[dict[str, Any]]:
    result = []
    for row in rows(delivery_webhooks):
        bounds: dict[str, Any] = {}
        for bound in ("low", "high"):
            functions = {name: function_cost(invocations[name], bound) for name in row.parts}
            lambda_total = sum(f["lambda_requests"] + f["lambda_duration"] for f in functions.values())
            dynamodb = sum(f["dynamodb"] for f in functions.values())
            sqs = sqs_cost() if row.through_queue else 0.0
            http = http_api_cost() * row.http_requests
            bounds[bound] = {
                "functions": functions,
                "lambda": lambda_total,
                "dynamodb": dynamodb,
                "sqs": sqs,
                "http_api": http,
                "total": lambda_total + dynamodb + sqs + http,
            }
        result.append(
            {
                "name": row.name,
                "description": row.description,
                "parts": list(row.parts),
                "through_queue": row.through_queue,
                "http_requests": row.http_requests,
                **bounds,
            }
        )
    return result


def as_dict(invocations: dict[str, Invocation], delivery_webhooks: tuple[str, ...]) -> dict[str, Any]:
    return {
        "per": PER,
        "prices": SEND_PRICES,
        "sqs_requests_per_mail": SQS_REQUESTS_PER_MAIL,
        "memory_mb": int(MEMORY_GB * 1024),
        "latency_ms_per_dynamodb_call": LATENCY_MS,
        "latency_ms_per_mailgun_call": MAILGUN_LATENCY_MS,
        "cpu_slowdown_high": CPU_SLOWDOWN_AT_512MB,
        "invocations": {name: asdict(invocation) for name, invocation in invocations.items()},
        "delivery_webhooks": list(delivery_webhooks),
        "rows": compute(invocations, delivery_webhooks),
    }
