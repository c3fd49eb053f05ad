"""Parsing and validating Segment tracking messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tagmail.domain.tracking import (
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    Endpoint,
    MessageType,
    parse_request,
)
from tagmail.errors import InvalidInput, NotFound, PayloadTooLarge

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def parse(endpoint: Endpoint, document: Any) -> Any:
    return parse_request(endpoint, json.dumps(document).encode(), NOW)


def refused(endpoint: Endpoint, document: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(endpoint, document)
    return caught.value


def test_a_track_message_carries_its_event_properties_and_ids() -> None:
    request = parse(
        Endpoint.TRACK,
        {"userId": "u1", "event": "cart_add", "messageId": "m-1", "properties": {"cart_id": "c1"}, "writeKey": "wk"},
    )
    [message] = request.messages
    assert request.write_key == "wk"
    assert (message.type, message.event, message.message_id, message.actor) == (
        MessageType.TRACK,
        "cart_add",
        "m-1",
        "u:u1",
    )
    assert message.payload == {"properties": {"cart_id": "c1"}}


def test_an_anonymous_message_is_stored_under_its_anonymous_id() -> None:
    [message] = parse(Endpoint.PAGE, {"anonymousId": "a-9", "name": "Home"}).messages
    assert message.actor == "a:a-9"
    assert message.name == "Home"


def test_numeric_user_ids_are_accepted_as_text() -> None:
    [message] = parse(Endpoint.TRACK, {"userId": 42, "event": "x"}).messages
    assert message.user_id == "42"


def test_a_message_without_message_id_gets_one() -> None:
    [message] = parse(Endpoint.TRACK, {"userId": "u1", "event": "x"}).messages
    assert message.message_id


def test_identify_splits_reserved_traits_from_attributes() -> None:
    [message] = parse(
        Endpoint.IDENTIFY,
        {
            "userId": "u1",
            "traits": {
                "email": " Alice@Example.COM ",
                "subscription": False,
                "locale": "ja_jp",
                "timezone": "Asia/Tokyo",
                "first_name": "アリス",
            },
        },
    ).messages
    traits = message.traits
    assert traits is not None
    assert traits.email is not None
    assert (traits.email.given, traits.email.canonical) == ("Alice@Example.COM", "alice@example.com")
    assert traits.subscription is False
    assert traits.locale == "ja-JP"
    assert traits.timezone == "Asia/Tokyo"
    assert traits.attributes == {"first_name": "アリス"}


def test_timestamps_are_corrected_for_the_client_clock_with_sent_at() -> None:
    # The client's clock is an hour fast: the event happened 10 s before it was sent.
    client = NOW + timedelta(hours=1)
    document = {
        "userId": "u1",
        "event": "x",
        "timestamp": (client - timedelta(seconds=10)).isoformat(),
        "sentAt": client.isoformat(),
    }
    [message] = parse(Endpoint.TRACK, document).messages
    assert message.timestamp == NOW - timedelta(seconds=10)


def test_batch_sent_at_applies_to_messages_without_their_own() -> None:
    client = NOW - timedelta(hours=3)
    document = {
        "sentAt": client.isoformat(),
        "batch": [{"type": "track", "userId": "u1", "event": "x", "timestamp": client.isoformat()}],
    }
    [message] = parse(Endpoint.BATCH, document).messages
    assert message.timestamp == NOW


@pytest.mark.parametrize(
    ("endpoint", "document", "field", "code"),
    [
        (Endpoint.TRACK, {"event": "x"}, "userId", "missing_field"),
        (Endpoint.TRACK, {"userId": "u1"}, "event", "missing_field"),
        (Endpoint.TRACK, {"userId": "u1", "event": 5}, "event", "invalid_type"),
        (Endpoint.TRACK, {"userId": ["u1"], "event": "x"}, "userId", "invalid_type"),
        (Endpoint.TRACK, {"userId": True, "event": "x"}, "userId", "invalid_type"),
        (Endpoint.TRACK, {"userId": "u1", "event": "x", "properties": []}, "properties", "invalid_type"),
        (Endpoint.TRACK, {"userId": "u1", "event": "x", "type": "page"}, "type", "invalid_type"),
        (Endpoint.TRACK, {"userId": "u1", "event": "x", "timestamp": "yesterday"}, "timestamp", "invalid_timestamp"),
        (Endpoint.TRACK, {"userId": "u1", "event": "x", "timestamp": "2099-01-01T00:00:00Z"}, "timestamp", None),
        (Endpoint.TRACK, {"userId": "u1", "event": "x", "writeKey": 7}, "writeKey", "invalid_type"),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": {"email": "alice@"}}, "traits.email", "invalid_email"),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": {"email": "a b@example.com"}}, "traits.email", "invalid_email"),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": {"email": 12}}, "traits.email", "invalid_type"),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": {"subscription": "false"}}, "traits.subscription", None),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": {"timezone": "Mars/Base"}}, "traits.timezone", None),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": {"locale": "日本語"}}, "traits.locale", None),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": {"n": 10**40}}, "traits.n", "invalid_number"),
        (Endpoint.IDENTIFY, {"userId": "u1", "traits": "alice"}, "traits", "invalid_type"),
        (Endpoint.BATCH, {"batch": {}}, "batch", "invalid_type"),
        (Endpoint.BATCH, {"batch": []}, "batch", "empty_batch"),
        (Endpoint.BATCH, {"batch": [{"type": "fly", "userId": "u1"}]}, "batch[0].type", "invalid_type"),
        (Endpoint.BATCH, {"batch": [{"type": "alias", "userId": "u1"}]}, "batch[0].previousId", "missing_field"),
        (Endpoint.BATCH, {"batch": [{"type": "group", "userId": "u1"}]}, "batch[0].groupId", "missing_field"),
        (Endpoint.BATCH, {"batch": ["track"]}, "batch[0]", "invalid_type"),
    ],
)
def test_bad_input_is_refused_naming_the_field(endpoint: Endpoint, document: Any, field: str, code: str | None) -> None:
    error = refused(endpoint, document)
    assert error.field == field
    if code:
        assert error.code == code


def test_one_bad_message_refuses_the_whole_batch_naming_it() -> None:
    batch = [{"type": "track", "userId": "u1", "event": "x"}] * 3 + [
        {"type": "identify", "userId": "u1", "traits": {"email": "nope"}}
    ]
    assert refused(Endpoint.BATCH, {"batch": batch}).field == "batch[3].traits.email"


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b"\xff\xfe", b'{"userId": NaN}', b"null"])
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_request(Endpoint.TRACK, body, NOW)
    assert caught.value.field == "body"


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    body = b'{"userId": "u1", "event": "x", "properties": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(InvalidInput):
        parse_request(Endpoint.BATCH, body, NOW)


def test_a_single_message_over_32_kb_is_refused() -> None:
    document = {"userId": "u1", "event": "x", "properties": {"blob": "x" * MAX_MESSAGE_BYTES}}
    with pytest.raises(PayloadTooLarge):
        parse(Endpoint.TRACK, document)


def test_a_batched_message_over_32_kb_is_refused_by_index() -> None:
    small = {"type": "track", "userId": "u1", "event": "x"}
    large = {**small, "properties": {"blob": "x" * MAX_MESSAGE_BYTES}}
    with pytest.raises(PayloadTooLarge) as caught:
        parse(Endpoint.BATCH, {"batch": [small, large]})
    assert caught.value.field == "batch[1]"


def test_batches_over_500_kb_or_100_messages_are_refused() -> None:
    message = {"type": "track", "userId": "u1", "event": "x"}
    with pytest.raises(PayloadTooLarge):
        parse(Endpoint.BATCH, {"batch": [message] * (MAX_BATCH_MESSAGES + 1)})
    big = {**message, "properties": {"blob": "x" * 30_000}}
    with pytest.raises(PayloadTooLarge):
        parse(Endpoint.BATCH, {"batch": [big] * 20})


def test_a_full_batch_of_100_messages_is_accepted() -> None:
    message = {"type": "track", "userId": "u1", "event": "x"}
    assert len(parse(Endpoint.BATCH, {"batch": [message] * MAX_BATCH_MESSAGES}).messages) == 100


def test_only_the_context_tagmail_uses_is_kept() -> None:
    context = {
        "page": {"url": "https://shop.example/cart", "path": "/cart", "width": 1280},
        "locale": "ja-JP",
        "userAgent": "Mozilla/5.0 " * 20,
        "ip": "203.0.113.9",
        "library": {"name": "analytics.js", "version": "5"},
    }
    [message] = parse(Endpoint.TRACK, {"userId": "u1", "event": "x", "context": context}).messages
    assert message.payload["context"] == {
        "page": {"url": "https://shop.example/cart", "path": "/cart"},
        "locale": "ja-JP",
    }


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [("t", Endpoint.TRACK), ("i", Endpoint.IDENTIFY), ("b", Endpoint.BATCH), ("screen", Endpoint.SCREEN)],
)
def test_analytics_js_short_paths_name_the_endpoints(path: str, endpoint: Endpoint) -> None:
    assert Endpoint.from_path(path) is endpoint


def test_an_unknown_endpoint_is_not_found() -> None:
    with pytest.raises(NotFound):
        Endpoint.from_path("tracks")
