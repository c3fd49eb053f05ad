"""Realistic requests: Segment messages as SDKs send them, wrapped in API Gateway HTTP API
(payload format 2.0) events, and the DynamoDB stream events the trigger function receives.

Shapes follow what the SDKs put on the wire: analytics.js (browser) fills ``context`` with the
page, user agent, locale and library; server SDKs (analytics-python, analytics-node) send a small
``context`` and post through ``/v1/batch``.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
_sequence = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def browser_message_id() -> str:
    return f"ajs-next-{uuid.uuid4().hex}"


def browser_context(path: str = "/products/linen-shirt-navy") -> dict[str, Any]:
    return {
        "page": {
            "path": path,
            "referrer": "https://www.google.com/",
            "search": "",
            "title": "Linen Shirt (Navy) | Example Shop",
            "url": f"https://shop.example.com{path}",
        },
        "userAgent": BROWSER_UA,
        "userAgentData": {
            "brands": [
                {"brand": "Google Chrome", "version": "131"},
                {"brand": "Chromium", "version": "131"},
                {"brand": "Not_A Brand", "version": "24"},
            ],
            "mobile": False,
            "platform": "macOS",
        },
        "locale": "ja-JP",
        "timezone": "Asia/Tokyo",
        "library": {"name": "analytics.js", "version": "npm:next-1.76.0"},
    }


def product_properties() -> dict[str, Any]:
    """Segment's e-commerce spec, "Product Added"."""
    return {
        "cart_id": "c-7f3a9e21",
        "product_id": "507f1f77bcf86cd799439011",
        "sku": "LS-NAVY-M",
        "category": "Shirts",
        "name": "Linen Shirt",
        "brand": "Example Shop",
        "variant": "Navy / M",
        "price": 6900,
        "currency": "JPY",
        "quantity": 1,
        "position": 3,
        "url": "https://shop.example.com/products/linen-shirt-navy",
        "image_url": "https://cdn.example.com/products/linen-shirt-navy.jpg",
    }


def browser_track(user_id: str | None, anonymous_id: str, message_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": "Product Added",
        "properties": product_properties(),
        "anonymousId": anonymous_id,
        "context": browser_context(),
        "integrations": {},
        "messageId": message_id or browser_message_id(),
        "timestamp": _now(),
        "sentAt": _now(),
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }
    if user_id:
        message["userId"] = user_id
    return message


def server_track(user_id: str, message_id: str | None = None) -> dict[str, Any]:
    """As analytics-python puts one message into a batch."""
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": user_id,
        "properties": {"order_id": "o-20261204-0042", "total": 13800, "currency": "JPY", "coupon": "WINTER"},
        "context": {"library": {"name": "analytics-python", "version": "2.3.3"}},
        "integrations": {},
        "messageId": message_id or str(uuid.uuid4()),
        "timestamp": _now(),
    }


def identify_traits(email: str, subscription: bool = True) -> dict[str, Any]:
    return {
        "email": email,
        "subscription": subscription,
        "first_name": "Hanako",
        "last_name": "Yamada",
        "plan": "member",
        "locale": "ja-JP",
        "timezone": "Asia/Tokyo",
        "created_at": "2026-11-02T09:15:00Z",
    }


def browser_identify(
    user_id: str | None, anonymous_id: str | None, traits: dict[str, Any], message_id: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "identify",
        "traits": traits,
        "context": browser_context("/account/welcome"),
        "integrations": {},
        "messageId": message_id or browser_message_id(),
        "timestamp": _now(),
        "sentAt": _now(),
    }
    if user_id:
        message["userId"] = user_id
    if anonymous_id:
        message["anonymousId"] = anonymous_id
    return message


def server_batch(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "batch": messages,
        "sentAt": _now(),
        "context": {"library": {"name": "analytics-python", "version": "2.3.3"}},
    }


def _sample(path: str) -> dict[str, Any]:
    """The project's sample events (events/<function>/<case>.json) give the envelopes."""
    return json.loads((ROOT / "events" / path).read_text(encoding="utf-8"))


def http_event(endpoint: str, body: dict[str, Any], write_key: str, browser: bool = True) -> dict[str, Any]:
    """An API Gateway HTTP API payload-2.0 event as Lambda receives it: the envelope of
    events/ingest/track.json with this request's route, headers and body."""
    event = copy.deepcopy(_sample("ingest/track.json"))
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    path = f"/v1/{endpoint}"
    user_agent = BROWSER_UA if browser else "analytics-python/2.3.3"
    now = datetime.now(UTC)
    headers = event["headers"]
    headers.update(
        {
            "authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
            "content-length": str(len(text.encode())),
            "content-type": "text/plain;charset=UTF-8" if browser else "application/json",
            "user-agent": user_agent,
            "x-amzn-trace-id": f"Root=1-{int(now.timestamp()):08x}-{uuid.uuid4().hex[:24]}",
        }
    )
    if browser:
        headers |= {"accept-language": "ja,en-US;q=0.9,en;q=0.8", "referer": "https://shop.example.com/"}
    else:
        headers.pop("origin", None)
    context = event["requestContext"]
    context["http"].update({"path": path, "userAgent": user_agent})
    context.update(
        {
            "routeKey": "POST /v1/{endpoint}",
            "requestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode(),
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
    )
    # One route serves every endpoint (template.yaml: /v1/{endpoint}); the handler reads the path parameter.
    event.update(
        {
            "routeKey": "POST /v1/{endpoint}",
            "rawPath": path,
            "pathParameters": {"endpoint": endpoint},
            "body": text,
            "isBase64Encoded": False,
        }
    )
    return event


def stream_event(images: list[dict[str, Any]]) -> dict[str, Any]:
    """A DynamoDB stream batch (INSERT records, NEW_IMAGE) as Lambda delivers it: records shaped
    like those of events/trigger/insert.json, carrying the given images."""
    template = _sample("trigger/insert.json")["Records"][0]
    records = []
    for image in images:
        record = copy.deepcopy(template)
        record["eventID"] = uuid.uuid4().hex
        record["dynamodb"].update(
            {
                "ApproximateCreationDateTime": int(datetime.now(UTC).timestamp()),
                "Keys": {"pk": image["pk"], "sk": image["sk"]},
                "NewImage": image,
                "SequenceNumber": f"{next(_sequence):022d}",
                "SizeBytes": len(json.dumps(image)),
            }
        )
        records.append(record)
    return {"Records": records}


class FakeContext:
    """The parts of Lambda's context object the handlers and Powertools read."""

    function_name = "tagmail-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tagmail-bench"
    log_group_name = "/aws/lambda/tagmail-bench"
    log_stream_name = "2026/12/04/[$LATEST]bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000
