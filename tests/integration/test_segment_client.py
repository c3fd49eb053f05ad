"""Segment's own Python SDK (segment-analytics-python), unchanged, pointed at tagmail."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from segment.analytics.client import Client

from local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_identify_and_track_through_the_segment_sdk(local_stack: LocalStack) -> None:
    errors: list[Exception] = []
    client = Client(
        write_key=local_stack.project.write_key,
        host=local_stack.api_url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
        gzip=True,
    )
    user = f"sdk-{uuid.uuid4().hex[:8]}"
    client.identify(
        user,
        {"email": "Taro.Yamada@Example.co.jp", "subscription": True, "locale": "ja-JP", "first_name": "太郎"},
        anonymous_id="anon-" + user,
    )
    client.track(user, "cart_add", {"cart_id": "c-77", "price": 1200}, timestamp=datetime(2026, 12, 1, tzinfo=UTC))
    client.page(user, category="shop", name="Cart")
    client.flush()
    client.join()
    assert errors == []

    dynamodb = local_stack.client("dynamodb")
    profile = dynamodb.get_item(
        TableName=local_stack.physical_names["UsersTable"],
        Key={"pk": {"S": f"{local_stack.project.id}#u:{user}"}},
        ConsistentRead=True,
    )["Item"]
    assert profile["email_canonical"]["S"] == "taro.yamada@example.co.jp"
    assert profile["subscription"]["BOOL"] is True
    assert profile["locale"]["S"] == "ja-JP"
    assert profile["traits"]["M"]["first_name"]["S"] == "太郎"

    events = dynamodb.query(
        TableName=local_stack.physical_names["EventsTable"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{local_stack.project.id}#u:{user}"}},
        ConsistentRead=True,
    )["Items"]
    by_type = {e["type"]["S"]: e for e in events}
    assert set(by_type) == {"identify", "track", "page"}
    track = by_type["track"]
    assert track["event"]["S"] == "cart_add"
    assert json.loads(track["payload"]["S"])["properties"] == {"cart_id": "c-77", "price": 1200}
    assert track["ts"]["S"].startswith("2026-12-01T00:00")
    assert by_type["page"]["name"]["S"] == "Cart"
    anonymous = dynamodb.get_item(
        TableName=local_stack.physical_names["UsersTable"],
        Key={"pk": {"S": f"{local_stack.project.id}#a:anon-{user}"}},
        ConsistentRead=True,
    )["Item"]
    assert anonymous["alias_of"]["S"] == user
