"""The trigger benchmark's workload: 100 active trigger campaigns and a stream of track events
with a realistic share of matching ones.

Campaign i enters on ``step_<i>`` (a one-hour delay, exits on ``purchase`` with the same
``cart_id``, the default caps and conversion on ``purchase``). Of every 100 events, 80 match no
campaign (page and product views, searches), 15 enter one campaign each (a delayed mail), and 5 are
``purchase``: an exit and a conversion event for all 100 campaigns, so the user's entries are read.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CAMPAIGNS = 100
DELAY = timedelta(hours=1)
NON_MATCHING = ("Product Viewed", "Page Viewed", "Products Searched", "Product List Viewed")
# Out of every 100 events.
MIX = {"non_matching": 80, "entry": 15, "exit": 5}


def campaigns(
    project_id: str, template_id: str = "t-bench", count: int = CAMPAIGNS, now: datetime | None = None
) -> list[Any]:
    from tagmail.domain.campaigns import Campaign, CampaignStatus, Variant
    from tagmail.domain.triggers import Timing, TimingKind, TriggerRule

    start = now or datetime.now(UTC)
    return [
        Campaign(
            id=f"c{i:03d}",
            project_id=project_id,
            name=f"step {i}",
            status=CampaignStatus.ACTIVE,
            created_at=start,
            updated_at=start,
            variants=(Variant("A", template_id, 1),),
            trigger=TriggerRule(
                entry_event=f"step_{i}",
                exit_events=("purchase",),
                exit_key_property="cart_id",
                timing=Timing(TimingKind.DELAY, delay=DELAY),
            ),
        )
        for i in range(count)
    ]


@dataclass(frozen=True)
class TrackEvent:
    kind: str  # non_matching / entry / exit
    actor: str
    message_id: str
    event: str
    properties: dict[str, Any]


def events(seed: str = "") -> Iterator[TrackEvent]:
    """An endless, deterministic mix; every user is new (no frequency cap refuses an entry)."""
    pattern = [kind for kind, share in MIX.items() for _ in range(share)]
    pattern = [pattern[(i * 37) % 100] for i in range(100)]  # spread the kinds over the 100
    for n in itertools.count():
        kind = pattern[n % 100]
        user = f"u:{seed}{n // 3}"  # a few events per user
        cart = f"cart-{seed}{n // 3}"
        if kind == "entry":
            name, properties = f"step_{n % CAMPAIGNS}", {"cart_id": cart, "product": "T-shirt", "price": 2980}
        elif kind == "exit":
            name, properties = "purchase", {"cart_id": cart, "revenue": 2980, "currency": "JPY"}
        else:
            name, properties = NON_MATCHING[n % len(NON_MATCHING)], {"product_id": f"p-{n % 50}", "price": 2980}
        yield TrackEvent(kind, user, uuid.uuid4().hex, name, properties)


def stored_event(project_id: str, event: TrackEvent, at: datetime) -> Any:
    from tagmail.domain.tracking import StoredEvent
    from tagmail.domain.triggers import event_time_text

    return StoredEvent(
        project_id=project_id,
        actor=event.actor,
        message_id=event.message_id,
        type="track",
        event=event.event,
        ts=event_time_text(at),
        anonymous_id=None,
        properties=event.properties,
    )


def stream_record(project_id: str, event: TrackEvent, at: datetime) -> dict[str, Any]:
    """The events table's INSERT record as its stream (NEW_IMAGE) delivers it to the function."""
    ts = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {"type": "track", "event": event.event, "properties": event.properties, "messageId": event.message_id}
    image = {
        "pk": {"S": f"{project_id}#{event.actor}"},
        "sk": {"S": f"m:{event.message_id}"},
        "type": {"S": "track"},
        "event": {"S": event.event},
        "ts": {"S": ts},
        "payload": {"S": json.dumps(payload, separators=(",", ":"))},
    }
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": "1",
            "SizeBytes": 300,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-12-01T00:00:00.000",
    }


class Context:
    """The parts of Lambda's context object the handler and Powertools read."""

    function_name = "tagmail-bench-trigger"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tagmail-bench-trigger"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
