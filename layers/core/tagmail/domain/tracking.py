"""Messages of the Segment HTTP Tracking API: parsing, limits and validation.

Every message of a request is validated before anything is stored, so a bad request stores nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tagmail.domain.email import EmailAddress, InvalidEmail, parse_email
from tagmail.errors import InvalidInput, NotFound, PayloadTooLarge

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 100
MAX_ID_LENGTH = 255
MAX_NAME_LENGTH = 255
# Clients' clocks drift; Segment corrects with sentAt, but a timestamp a day ahead is a bug.
MAX_FUTURE_SKEW = timedelta(hours=24)
# DynamoDB refuses maps nested deeper than 32 levels; traits are stored as a map.
MAX_TRAIT_DEPTH = 16

# What is kept of a message's context (see _stored_context).
STORED_CONTEXT = ("page", "campaign", "locale", "timezone", "referrer")
STORED_PAGE_CONTEXT = ("url", "path", "referrer", "title", "search")

_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))*$")


class MessageType(StrEnum):
    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


class Endpoint(StrEnum):
    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"
    BATCH = "batch"

    @classmethod
    def from_path(cls, name: str) -> Endpoint:
        """`/v1/track` or the one-letter paths Segment's browser library (analytics.js) posts to."""
        try:
            return cls(_SHORT_PATHS.get(name, name))
        except ValueError:
            raise NotFound(f"no tracking endpoint /v1/{name}") from None


_SHORT_PATHS = {"i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group", "a": "alias", "b": "batch"}


@dataclass(frozen=True)
class ProfileTraits:
    """What an identify says about a user: the reserved traits apart, the rest as attributes."""

    email: EmailAddress | None = None
    subscription: bool | None = None
    locale: str | None = None
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # What the client's context says (the browser's language and zone): used only when the profile
    # has no locale or time zone, so a value the shop set on purpose is never overwritten.
    context_locale: str | None = None
    context_timezone: str | None = None


@dataclass(frozen=True)
class TrackingMessage:
    type: MessageType
    message_id: str
    timestamp: datetime
    received_at: datetime
    user_id: str | None = None
    anonymous_id: str | None = None
    event: str | None = None
    name: str | None = None
    previous_id: str | None = None
    group_id: str | None = None
    traits: ProfileTraits | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """The key events are stored under: the user id once known, else the anonymous id."""
        if self.user_id is not None:
            return f"u:{self.user_id}"
        return f"a:{self.anonymous_id}"


@dataclass(frozen=True)
class StoredEvent:
    """An event as the events table holds it, seen again by the stream's consumers."""

    project_id: str
    actor: str
    message_id: str
    type: str
    event: str | None
    ts: str
    # The anonymous id an identified user's event carried too (the visitor before signing in).
    anonymous_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackingRequest:
    write_key: str | None
    messages: list[TrackingMessage]


def parse_request(endpoint: Endpoint, body: bytes, received_at: datetime) -> TrackingRequest:
    """Parse a request body of one of the tracking endpoints, validating every message."""
    limit = MAX_BATCH_BYTES if endpoint is Endpoint.BATCH else MAX_MESSAGE_BYTES
    if len(body) > limit:
        raise PayloadTooLarge(f"the request body is {len(body)} bytes; the limit is {limit}", field="body")
    document = _load_json(body)
    write_key = document.get("writeKey")
    if write_key is not None and not isinstance(write_key, str):
        raise InvalidInput("writeKey must be a string", field="writeKey", code="invalid_type")
    if endpoint is Endpoint.BATCH:
        raw_messages = document.get("batch")
        if not isinstance(raw_messages, list):
            raise InvalidInput("batch must be an array of messages", field="batch", code="invalid_type")
        if not raw_messages:
            raise InvalidInput("batch is empty", field="batch", code="empty_batch")
        if len(raw_messages) > MAX_BATCH_MESSAGES:
            raise PayloadTooLarge(
                f"batch has {len(raw_messages)} messages; the limit is {MAX_BATCH_MESSAGES}", field="batch"
            )
        batch_sent_at = _optional_time(document, "sentAt", "sentAt")
        messages = [
            _parse_message(raw, f"batch[{i}]", None, received_at, batch_sent_at) for i, raw in enumerate(raw_messages)
        ]
    else:
        messages = [_parse_message(document, "", MessageType(endpoint.value), received_at, None)]
    return TrackingRequest(write_key=write_key or None, messages=messages)


def _load_json(body: bytes) -> dict[str, Any]:
    def refuse_constant(name: str) -> None:
        raise ValueError(f"{name} is not valid JSON")

    try:
        document = json.loads(body.decode("utf-8"), parse_constant=refuse_constant)
    except UnicodeDecodeError as exc:
        raise InvalidInput("the request body is not UTF-8", field="body", code="malformed_json") from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}", field="body", code="malformed_json") from exc
    if not isinstance(document, dict):
        raise InvalidInput("the request body must be a JSON object", field="body", code="invalid_type")
    return document


def _parse_message(
    raw: Any, path: str, expected: MessageType | None, received_at: datetime, batch_sent_at: datetime | None
) -> TrackingMessage:
    def name(key: str) -> str:
        return f"{path}.{key}" if path else key

    if not isinstance(raw, dict):
        raise InvalidInput("a message must be a JSON object", field=path or "body", code="invalid_type")
    if path:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"the message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}", field=path)

    message_type = _message_type(raw.get("type"), expected, name("type"))
    user_id = _optional_id(raw, "userId", name)
    anonymous_id = _optional_id(raw, "anonymousId", name)
    if user_id is None and anonymous_id is None:
        raise InvalidInput("userId or anonymousId is required", field=name("userId"), code="missing_field")

    message_id = _optional_id(raw, "messageId", name) or f"srv-{uuid.uuid4()}"
    timestamp = _event_time(raw, name, received_at, batch_sent_at)

    event, name_, previous_id, group_id = _type_fields(raw, message_type, user_id, name)
    traits: ProfileTraits | None = None
    for key in ("properties", "traits", "context", "integrations"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise InvalidInput(f"{key} must be an object", field=name(key), code="invalid_type")
    if message_type is MessageType.IDENTIFY:
        traits = _with_context(parse_traits(raw.get("traits") or {}, name("traits")), raw.get("context") or {})

    payload = {key: raw[key] for key in ("properties", "traits") if raw.get(key)}
    context = _stored_context(raw.get("context") or {})
    if context:
        payload["context"] = context
    return TrackingMessage(
        type=message_type,
        message_id=message_id,
        timestamp=timestamp,
        received_at=received_at,
        user_id=user_id,
        anonymous_id=anonymous_id,
        event=event,
        name=name_,
        previous_id=previous_id,
        group_id=group_id,
        traits=traits,
        payload=payload,
    )


def _stored_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a client's context that mail and segments use. SDKs send much more (user
    agent, screen, device, library internals): at a kilobyte and more per event it would double
    the write units and the storage of every event, for nothing tagmail reads."""
    kept = {key: context[key] for key in STORED_CONTEXT if context.get(key) not in (None, "", {})}
    page = kept.get("page")
    if isinstance(page, dict):
        kept["page"] = {key: page[key] for key in STORED_PAGE_CONTEXT if page.get(key)}
    return kept


def _type_fields(
    raw: Mapping[str, Any], message_type: MessageType, user_id: str | None, name: Any
) -> tuple[str | None, str | None, str | None, str | None]:
    """The fields only some message types carry: (event, name, previousId, groupId)."""
    if message_type is MessageType.TRACK:
        return _required_text(raw, "event", name), None, None, None
    if message_type in (MessageType.PAGE, MessageType.SCREEN):
        return None, _optional_text(raw, "name", name), None, None
    if message_type is MessageType.ALIAS:
        previous_id = _optional_id(raw, "previousId", name)
        if previous_id is None:
            raise InvalidInput("previousId is required for alias", field=name("previousId"), code="missing_field")
        if user_id is None:
            raise InvalidInput("userId is required for alias", field=name("userId"), code="missing_field")
        return None, None, previous_id, None
    if message_type is MessageType.GROUP:
        group_id = _optional_id(raw, "groupId", name)
        if group_id is None:
            raise InvalidInput("groupId is required for group", field=name("groupId"), code="missing_field")
        return None, None, None, group_id
    return None, None, None, None


def parse_traits(raw: Mapping[str, Any], path: str) -> ProfileTraits:
    """Split identify traits into the reserved ones (validated) and free attributes."""
    attributes: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("email", "subscription", "locale", "timezone"):
            continue
        if not key:
            raise InvalidInput("trait names must not be empty", field=path, code="invalid_trait")
        _check_storable(value, f"{path}.{key}", depth=1)
        attributes[key] = value

    email = None
    if raw.get("email") is not None:
        if not isinstance(raw["email"], str):
            raise InvalidInput("email must be a string", field=f"{path}.email", code="invalid_type")
        try:
            email = parse_email(raw["email"])
        except InvalidEmail as exc:
            raise InvalidInput(f"email {exc}", field=f"{path}.email", code="invalid_email") from exc

    subscription = raw.get("subscription")
    if subscription is not None and not isinstance(subscription, bool):
        raise InvalidInput(
            "subscription must be a boolean (true or false)", field=f"{path}.subscription", code="invalid_type"
        )

    return ProfileTraits(
        email=email,
        subscription=subscription,
        locale=_locale(raw.get("locale"), f"{path}.locale"),
        timezone=_timezone(raw.get("timezone"), f"{path}.timezone"),
        attributes=attributes,
    )


def _with_context(traits: ProfileTraits, context: Mapping[str, Any]) -> ProfileTraits:
    """Take the client's locale and time zone as fallbacks; invalid ones are ignored, not refused,
    because the context is the client library's guess, not the shop's statement."""
    try:
        locale = _locale(context.get("locale"), "context.locale")
    except InvalidInput:
        locale = None
    try:
        timezone = _timezone(context.get("timezone"), "context.timezone")
    except InvalidInput:
        timezone = None
    return replace(traits, context_locale=locale, context_timezone=timezone)


def _locale(value: Any, path: str) -> str | None:
    if value is None:
        return None
    match = _LOCALE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput("locale must be a language tag such as ja-JP", field=path, code="invalid_locale")
    language, *rest = re.split(r"[-_]", value)
    subtags = [tag.upper() if len(tag) == 2 else tag.title() if len(tag) == 4 else tag for tag in rest]
    return "-".join([language.lower(), *subtags])


def _timezone(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value:
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidInput("timezone must be an IANA time zone such as Asia/Tokyo", field=path, code="invalid_timezone")


def _check_storable(value: Any, path: str, depth: int) -> None:
    """Traits are stored as a DynamoDB map: bounded depth and numbers DynamoDB can hold."""
    if depth > MAX_TRAIT_DEPTH:
        raise InvalidInput(f"traits are nested deeper than {MAX_TRAIT_DEPTH} levels", field=path, code="too_deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if not key:
                raise InvalidInput("object keys must not be empty", field=path, code="invalid_trait")
            _check_storable(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and not _storable_number(value):
        raise InvalidInput("number is out of the storable range", field=path, code="invalid_number")


def _storable_number(value: float) -> bool:
    """DynamoDB numbers: magnitude between 1e-130 and 1e126, at most 38 significant digits."""
    if value == 0:
        return True
    return 1e-130 < abs(value) < 1e125 and len(str(abs(value)).replace(".", "")) <= 38


def _message_type(value: Any, expected: MessageType | None, path: str) -> MessageType:
    if value is None and expected is not None:
        return expected
    try:
        message_type = MessageType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in MessageType)
        raise InvalidInput(f"type must be one of {allowed}", field=path, code="invalid_type") from None
    if expected is not None and message_type is not expected:
        raise InvalidInput(f"type must be '{expected.value}' on this endpoint", field=path, code="invalid_type")
    return message_type


def _optional_id(raw: Mapping[str, Any], key: str, name: Any) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"{key} must be a string", field=name(key), code="invalid_type")
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH:
        raise InvalidInput(f"{key} is longer than {MAX_ID_LENGTH} characters", field=name(key), code="too_long")
    return text or None


def _required_text(raw: Mapping[str, Any], key: str, name: Any) -> str:
    value = _optional_text(raw, key, name)
    if value is None:
        raise InvalidInput(f"{key} is required", field=name(key), code="missing_field")
    return value


def _optional_text(raw: Mapping[str, Any], key: str, name: Any) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string", field=name(key), code="invalid_type")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{key} is longer than {MAX_NAME_LENGTH} characters", field=name(key), code="too_long")
    return value.strip() or None


def _optional_time(raw: Mapping[str, Any], key: str, path: str) -> datetime | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise InvalidInput(f"{key} must be an ISO 8601 date-time", field=path, code="invalid_timestamp")


def _event_time(raw: Mapping[str, Any], name: Any, received_at: datetime, batch_sent_at: datetime | None) -> datetime:
    """When the event happened, corrected for the client's clock as Segment does with sentAt."""
    timestamp = _optional_time(raw, "timestamp", name("timestamp"))
    sent_at = _optional_time(raw, "sentAt", name("sentAt")) or batch_sent_at
    if timestamp is None:
        return received_at
    if sent_at is not None:
        timestamp = received_at - (sent_at - timestamp)
    if timestamp - received_at > MAX_FUTURE_SKEW:
        raise InvalidInput(
            "timestamp is too far in the future (more than 24 hours ahead of the server clock)",
            field=name("timestamp"),
            code="invalid_timestamp",
        )
    return timestamp.astimezone(UTC)
