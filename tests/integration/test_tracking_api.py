"""The tracking API on the local stack: real HTTP, the in-process Lambda runner, moto's DynamoDB."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.adapters.dynamodb import stored_event_from_image
from tagmail.domain.tracking import StoredEvent
from tagmail.services.event_stream import EventStreamConsumer

pytestmark = pytest.mark.integration


def auth(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


@pytest.fixture
def post(local_stack: LocalStack) -> Callable[..., requests.Response]:
    def send(path: str, document: Any = None, *, key: str | None = "", data: bytes | None = None, **kw: Any):
        headers = {"content-type": "application/json", **kw.pop("headers", {})}
        if key is not None:
            headers.update(auth(key or local_stack.project.write_key))
        body = data if data is not None else json.dumps(document).encode()
        return requests.post(f"{local_stack.api_url}{path}", data=body, headers=headers, timeout=10, **kw)

    return send


def user_item(stack: LocalStack, user_id: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_names["UsersTable"],
        Key={"pk": {"S": f"{stack.project.id}#u:{user_id}"}},
        ConsistentRead=True,
    )
    return item.get("Item")


def events_of(stack: LocalStack, actor: str) -> list[dict[str, Any]]:
    result = stack.client("dynamodb").query(
        TableName=stack.physical_names["EventsTable"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{stack.project.id}#{actor}"}},
        ConsistentRead=True,
    )
    return list(result["Items"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_identify_and_track_are_stored(local_stack: LocalStack, post: Callable[..., requests.Response]) -> None:
    user = unique("u")
    response = post(
        "/v1/identify",
        {"userId": user, "traits": {"email": "Hanako@Example.JP", "subscription": True, "plan": "gold"}},
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert response.headers["access-control-allow-origin"] == "*"
    assert post("/v1/track", {"userId": user, "event": "cart_add", "properties": {"cart_id": "c1"}}).ok

    item = user_item(local_stack, user)
    assert item is not None
    assert item["email"]["S"] == "Hanako@Example.JP"
    assert item["email_canonical"]["S"] == "hanako@example.jp"
    assert item["subscription"]["BOOL"] is True
    assert item["traits"]["M"]["plan"]["S"] == "gold"
    stored = events_of(local_stack, f"u:{user}")
    assert sorted(e["type"]["S"] for e in stored) == ["identify", "track"]
    track = next(e for e in stored if e["type"]["S"] == "track")
    assert json.loads(track["payload"]["S"])["properties"] == {"cart_id": "c1"}
    assert int(track["expires_at"]["N"]) > time.time() + 300 * 86400


def test_write_key_in_the_body_and_text_plain_work_for_beacons(
    local_stack: LocalStack, post: Callable[..., requests.Response]
) -> None:
    user = unique("u")
    document = {"userId": user, "event": "viewed", "writeKey": local_stack.project.write_key}
    response = post("/v1/track", key=None, data=json.dumps(document).encode(), headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert len(events_of(local_stack, f"u:{user}")) == 1


def test_analytics_js_one_letter_paths_and_other_message_types_are_accepted(
    local_stack: LocalStack, post: Callable[..., requests.Response]
) -> None:
    user = unique("u")
    assert post("/v1/t", {"userId": user, "event": "viewed"}).status_code == 200
    assert post("/v1/p", {"userId": user, "name": "Home"}).status_code == 200
    assert post("/v1/screen", {"userId": user, "name": "Cart"}).status_code == 200
    assert post("/v1/group", {"userId": user, "groupId": "g1"}).status_code == 200
    assert sorted(e["type"]["S"] for e in events_of(local_stack, f"u:{user}")) == ["group", "page", "screen", "track"]
    missing = post("/v1/tracks", {"userId": user, "event": "x"})
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_gzip_batches_are_accepted(local_stack: LocalStack, post: Callable[..., requests.Response]) -> None:
    user = unique("u")
    batch = {"batch": [{"type": "track", "userId": user, "event": f"e{i}"} for i in range(100)]}
    response = post("/v1/batch", data=gzip.compress(json.dumps(batch).encode()), headers={"content-encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert len(events_of(local_stack, f"u:{user}")) == 100


def test_a_retried_message_is_stored_once(local_stack: LocalStack, post: Callable[..., requests.Response]) -> None:
    user = unique("u")
    document = {"userId": user, "event": "purchase", "messageId": unique("m")}
    assert post("/v1/track", document).status_code == 200
    assert post("/v1/track", document).status_code == 200
    assert post("/v1/batch", {"batch": [{**document, "type": "track"}]}).status_code == 200
    assert len(events_of(local_stack, f"u:{user}")) == 1


def test_cors_preflight_allows_any_site(local_stack: LocalStack) -> None:
    response = requests.options(
        f"{local_stack.api_url}/v1/track",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert int(response.headers["access-control-max-age"]) > 0


BAD_INPUTS: list[tuple[str, str, Any, int, str]] = [
    ("malformed JSON", "/v1/track", b'{"userId": "u1", "event": ', 400, "body"),
    ("not an object", "/v1/track", [1, 2], 400, "body"),
    ("missing ids", "/v1/track", {"event": "x"}, 400, "userId"),
    ("missing event", "/v1/track", {"userId": "{user}"}, 400, "event"),
    ("wrong type", "/v1/track", {"userId": "{user}", "event": "x", "properties": "cheap"}, 400, "properties"),
    ("invalid e-mail", "/v1/identify", {"userId": "{user}", "traits": {"email": "no-at-sign"}}, 400, "traits.email"),
    (
        "string consent",
        "/v1/identify",
        {"userId": "{user}", "traits": {"subscription": "yes"}},
        400,
        "traits.subscription",
    ),
    ("future", "/v1/track", {"userId": "{user}", "event": "x", "timestamp": "2999-01-01T00:00:00Z"}, 400, "timestamp"),
    (
        "message over 32 KB",
        "/v1/track",
        {"userId": "{user}", "event": "x", "properties": {"b": "x" * 33_000}},
        413,
        "body",
    ),
    ("101 messages", "/v1/batch", {"batch": [{"type": "track", "userId": "{user}", "event": "x"}] * 101}, 413, "batch"),
    (
        "batch over 500 KB",
        "/v1/batch",
        {"batch": [{"type": "track", "userId": "{user}", "event": "x", "properties": {"b": "x" * 30_000}}] * 20},
        413,
        "body",
    ),
    (
        "one bad message in a batch",
        "/v1/batch",
        {"batch": [{"type": "track", "userId": "{user}", "event": "ok"}, {"type": "track", "userId": "{user}"}]},
        400,
        "batch[1].event",
    ),
]


@pytest.mark.parametrize(("case", "path", "document", "status", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_with_the_field_and_nothing_is_stored(
    local_stack: LocalStack,
    post: Callable[..., requests.Response],
    case: str,
    path: str,
    document: Any,
    status: int,
    field: str,
) -> None:
    user = unique("u")
    body = document if isinstance(document, bytes) else json.dumps(document).replace("{user}", user).encode()
    response = post(path, data=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["success"] is False
    assert error["field"] == field
    assert error["message"]
    assert events_of(local_stack, f"u:{user}") == []
    assert user_item(local_stack, user) is None


@pytest.mark.parametrize("key", ["wk_unknown", None])
def test_an_unknown_or_missing_write_key_is_401(
    local_stack: LocalStack, post: Callable[..., requests.Response], key: str | None
) -> None:
    user = unique("u")
    response = post("/v1/track", {"userId": user, "event": "x"}, key=key)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert events_of(local_stack, f"u:{user}") == []


def test_the_admin_key_cannot_write_events(local_stack: LocalStack, post: Callable[..., requests.Response]) -> None:
    assert post("/v1/track", {"userId": "u", "event": "x"}, key=local_stack.project.admin_key).status_code == 401


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b"\x00\xff\xfe garbage", {"content-type": "application/octet-stream"}),
        (b"not gzip at all", {"content-encoding": "gzip"}),
        (b"{}", {"content-encoding": "zstd"}),
        (b'{"batch": "' + b"[" * 50_000 + b'"}', {}),
        (b'{"userId": "u1", "event": "x", "properties": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", {}),
    ],
)
def test_hostile_bodies_get_a_4xx_never_a_5xx(
    post: Callable[..., requests.Response], data: bytes, headers: dict[str, str]
) -> None:
    for path in ("/v1/track", "/v1/batch", "/v1/identify"):
        response = post(path, data=data, headers=headers)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)


class RecordingConsumer(EventStreamConsumer):
    def __init__(self) -> None:
        super().__init__(decode=stored_event_from_image)
        self.seen: list[StoredEvent] = []

    def consume(self, stored: StoredEvent) -> None:
        self.seen.append(stored)


@pytest.fixture
def recording_consumer(monkeypatch: pytest.MonkeyPatch) -> RecordingConsumer:
    consumer = RecordingConsumer()
    monkeypatch.setattr(bootstrap, "event_stream_consumer", lambda: consumer)
    return consumer


def test_every_stored_event_reaches_the_trigger_function_in_order(
    local_stack: LocalStack, post: Callable[..., requests.Response], recording_consumer: RecordingConsumer
) -> None:
    user = unique("u")
    names = [f"step{i}" for i in range(30)]
    for start in range(0, 30, 10):
        batch = [{"type": "track", "userId": user, "event": name} for name in names[start : start + 10]]
        assert post("/v1/batch", {"batch": batch}).status_code == 200
    post("/v1/batch", {"batch": [{"type": "track", "userId": user, "event": "step0", "messageId": "dup"}] * 2})

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        mine = [e for e in recording_consumer.seen if e.actor == f"u:{user}"]
        if len(mine) >= 31:
            break
        time.sleep(0.1)
    local_stack.wait_idle(5)
    mine = [e for e in recording_consumer.seen if e.actor == f"u:{user}"]
    assert [e.event for e in mine] == [*names, "step0"], "each stored event exactly once, in order"
    failures = local_stack.client("sqs").get_queue_attributes(
        QueueUrl=local_stack.queue_urls["TriggerFailureQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert failures["Attributes"]["ApproximateNumberOfMessages"] == "0"
