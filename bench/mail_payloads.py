"""Events of the send path as Lambda delivers them: SQS batches of send requests for the send
function, and API Gateway HTTP API (payload 2.0) events for the webhook and unsubscribe functions,
on the envelopes of events/webhook/delivered.json and events/unsubscribe/one_click.json."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.aws import ROOT

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:tagmail-SendQueue"


def _sample(path: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "events" / path).read_text(encoding="utf-8")))


def sqs_event(bodies: list[str], receive_count: int = 1) -> dict[str, Any]:
    """A batch from the send queue, each record shaped as Lambda's SQS event source gives it."""
    now = int(datetime.now(UTC).timestamp() * 1000)
    records = []
    for body in bodies:
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": base64.b64encode(uuid.uuid4().bytes * 4).decode(),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": str(now - 1200),
                    "SenderId": "AROAEXAMPLE:tagmail-trigger",
                    "ApproximateFirstReceiveTimestamp": str(now - 1000),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def _http_event(sample: str, *, method: str, path: str, route: str, body: str, base64_body: bool) -> dict[str, Any]:
    event = copy.deepcopy(_sample(sample))
    now = datetime.now(UTC)
    data = body.encode()
    event["headers"]["content-length"] = str(len(data))
    event["headers"]["x-amzn-trace-id"] = f"Root=1-{int(now.timestamp()):08x}-{uuid.uuid4().hex[:24]}"
    context = event["requestContext"]
    context["http"].update({"method": method, "path": path})
    context.update(
        {
            "routeKey": route,
            "requestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode(),
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
    )
    event.update(
        {
            "routeKey": route,
            "rawPath": path,
            "body": base64.b64encode(data).decode() if base64_body else body,
            "isBase64Encoded": base64_body,
        }
    )
    return event


def webhook_event(body: str) -> dict[str, Any]:
    """Mailgun's POST /webhooks/mailgun with the body exactly as the sandbox signed and sent it."""
    return _http_event(
        "webhook/delivered.json",
        method="POST",
        path="/webhooks/mailgun",
        route="POST /webhooks/mailgun",
        body=body,
        base64_body=False,
    )


def one_click_unsubscribe_event(token: str) -> dict[str, Any]:
    """A mailbox provider's RFC 8058 one-click POST to the link of a mail's List-Unsubscribe header."""
    path = f"/u/{token}"
    event = _http_event(
        "unsubscribe/one_click.json",
        method="POST",
        path=path,
        route="POST /u/{token}",
        body="List-Unsubscribe=One-Click",
        base64_body=True,
    )
    event["pathParameters"] = {"token": token}
    return event


def webhook_kind(body: str) -> tuple[str, str]:
    """(event type, tagmail's send key) of a webhook body."""
    data = json.loads(body)["event-data"]
    return str(data["event"]), str(data.get("user-variables", {}).get("tagmail_send", ""))
