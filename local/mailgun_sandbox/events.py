"""Event records shaped as Mailgun's ``event-data`` and the Events API's filters and paging."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.messages import StoredMessage
from local.mailgun_sandbox.scenarios import Step

DEFAULT_LIMIT = 100
MAX_LIMIT = 300
SENDING_IP = "192.0.2.25"  # a documentation address (RFC 5737): nothing is really sent
WEBHOOK_TYPES = (
    "accepted",
    "delivered",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "temporary_fail",
    "permanent_fail",
)
_LOG_LEVELS = {"failed": "error", "complained": "warn", "rejected": "warn"}
_CLIENT = {
    "ip": "198.51.100.7",
    "geolocation": {"country": "US", "region": "CA", "city": "San Francisco"},
    "client-info": {
        "client-type": "browser",
        "client-os": "Linux",
        "device-type": "desktop",
        "client-name": "Chrome",
        "user-agent": (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
        ),
        "bot": "",
    },
}
_FAILURES = {
    550: (
        "5.1.1",
        "5.1.1 The email account that you tried to reach does not exist. Please try double-checking "
        "the recipient's email address for typos or unnecessary spaces.",
    ),
    452: (
        "4.2.2",
        "4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to "
        "https://support.google.com/mail/?p=OverQuotaTemp",
    ),
    602: ("", "Too old"),
}


def new_event_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def webhook_type(event: dict[str, Any]) -> str | None:
    """The webhook type an event is posted to (``failed`` splits by severity); None for none."""
    name = event.get("event")
    if name == "failed":
        return "permanent_fail" if event.get("severity") == "permanent" else "temporary_fail"
    return name if name in WEBHOOK_TYPES else None


def event_data(
    name: str,
    message: StoredMessage,
    recipient: str,
    *,
    timestamp: float,
    account_id: str,
    storage_url: str,
    step: Step | None = None,
    url: str | None = None,
    drop: tuple[str, int, str] | None = None,
) -> dict[str, Any]:
    """One ``event-data`` object, identical in the Events API and in webhooks."""
    data: dict[str, Any] = {
        "id": new_event_id(),
        "timestamp": round(timestamp, 6),
        "log-level": _LOG_LEVELS.get(name, "info"),
        "event": name,
        "recipient": recipient,
        "recipient-domain": recipient.rpartition("@")[2].lower(),
        "tags": list(message.tags),
        "campaigns": [],
        "user-variables": message.truncated_user_variables(),
        "flags": {
            "is-authenticated": True,
            "is-test-mode": message.test_mode,
            "is-routed": False,
            "is-amp": bool(message.amp_html),
        },
        "message": {
            "headers": {
                "to": message.to_header,
                "message-id": message.id,
                "from": message.sender,
                "subject": message.subject,
            },
            "attachments": list(message.attachments),
            "size": message.size,
        },
        "account": {"id": account_id},
        "domain": {"name": message.domain},
    }
    envelope = {"sender": _envelope_sender(message), "targets": recipient, "transport": "smtp"}
    storage = {"key": message.storage_key, "url": storage_url}
    if name == "accepted":
        data["method"] = "HTTP"
        data["envelope"] = envelope
        data["storage"] = storage
        if message.scheduled_for:
            data["message"]["scheduled-for"] = datetime.fromtimestamp(message.scheduled_for, UTC).isoformat()
    elif name == "delivered":
        code = 650 if message.test_mode else 250
        data["envelope"] = {**envelope, "sending-ip": SENDING_IP}
        data["storage"] = storage
        data["delivery-status"] = {
            "code": code,
            "message": "Test mode" if code == 650 else "OK",
            "description": "",
            "attempt-no": step.attempt if step else 1,
            "mx-host": _mx_host(recipient),
            "tls": True,
            "certificate-verified": True,
            "utf8": True,
            "session-seconds": 0.25,
        }
    elif name == "failed":
        data["envelope"] = {**envelope, "sending-ip": SENDING_IP}
        data["storage"] = storage
        data["flags"]["is-delayed-bounce"] = False
        if drop is not None:
            reason, code, text = drop
            data["severity"] = "permanent"
            data["reason"] = reason
            data["delivery-status"] = {
                "code": code,
                "message": text,
                "description": "",
                "attempt-no": 1,
                "enhanced-code": "",
                "bounce-code": "",
                "mx-host": "",
            }
        else:
            assert step is not None
            assert step.code is not None
            enhanced, text = _FAILURES[step.code]
            data["severity"] = step.severity
            data["reason"] = step.reason
            data["log-level"] = "error" if step.severity == "permanent" else "warn"
            status: dict[str, Any] = {
                "code": step.code,
                "enhanced-code": enhanced,
                "message": text,
                "description": "",
                "attempt-no": step.attempt,
                "bounce-code": enhanced,
                "mx-host": _mx_host(recipient),
                "tls": True,
                "certificate-verified": True,
            }
            if step.severity == "temporary":
                status["retry-seconds"] = 600
            data["delivery-status"] = status
    elif name in ("opened", "clicked", "unsubscribed"):
        data.update(json.loads(json.dumps(_CLIENT)))
        if name == "clicked":
            data["url"] = url or ""
    return data


def _envelope_sender(message: StoredMessage) -> str:
    return f"bounce+{message.storage_key[:6].lower()}@{message.domain}"


def _mx_host(recipient: str) -> str:
    return f"mx.{recipient.rpartition('@')[2].lower()}"


def parse_time(value: str) -> float:
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError) as exc:
        raise ApiError.message(400, f"{value} is not an RFC-2822 compliant date") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _alternatives(expression: str) -> tuple[set[str], bool]:
    """``a OR b`` → ({a, b}, False); ``NOT a`` → ({a}, True). Quotes are dropped."""
    text = expression.strip()
    negate = text.upper().startswith("NOT ")
    if negate:
        text = text[4:]
    values = {part.strip().strip('"').lower() for part in re.split(r"\s+OR\s+", text.strip("() ")) if part.strip()}
    return values, negate


def _matches(value: str | list[str] | None, expression: str, *, contains: bool = False) -> bool:
    wanted, negate = _alternatives(expression)
    values = [v.lower() for v in value] if isinstance(value, list) else [(value or "").lower()]
    hit = any(w in v for w in wanted for v in values) if contains else any(v in wanted for v in values)
    return hit != negate


_Getter = Callable[[dict[str, Any]], Any]

_FILTERS: dict[str, _Getter] = {
    "event": lambda item: item.get("event"),
    "recipient": lambda item: item.get("recipient"),
    "severity": lambda item: item.get("severity"),
    "tags": lambda item: item.get("tags", []),
    "message-id": lambda item: item.get("message", {}).get("headers", {}).get("message-id"),
}
_CONTAINS: dict[str, _Getter] = {
    "from": lambda item: item.get("message", {}).get("headers", {}).get("from"),
    "to": lambda item: item.get("message", {}).get("headers", {}).get("to"),
    "subject": lambda item: item.get("message", {}).get("headers", {}).get("subject"),
}


def query_events(events: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    """The events matching the Events API's query parameters, in the requested order."""
    selected = list(events)
    begin = parse_time(params["begin"]) if params.get("begin") else None
    end = parse_time(params["end"]) if params.get("end") else None
    ascending_param = (params.get("ascending") or "").lower()
    if ascending_param not in ("", "yes", "no"):
        raise ApiError.message(400, "'ascending' parameter must be yes or no")
    if begin is not None and end is not None:
        # With both ends given, their order is the direction (as Mailgun reads a range).
        ascending = begin <= end
        begin, end = min(begin, end), max(begin, end)
    else:
        ascending = ascending_param == "yes" or (ascending_param == "" and begin is not None and end is None)
    if begin is not None:
        selected = [item for item in selected if item["timestamp"] >= begin]
    if end is not None:
        selected = [item for item in selected if item["timestamp"] <= end]
    for name, getter in _FILTERS.items():
        if params.get(name):
            expression = params[name].strip("<>") if name == "message-id" else params[name]
            selected = [item for item in selected if _matches(getter(item), expression)]
    for name, getter in _CONTAINS.items():
        if params.get(name):
            selected = [item for item in selected if _matches(getter(item), params[name], contains=True)]
    selected.sort(key=lambda item: item["timestamp"], reverse=not ascending)
    return selected


def limit_of(params: dict[str, str]) -> int:
    raw = params.get("limit") or str(DEFAULT_LIMIT)
    try:
        limit = int(raw)
    except ValueError as exc:
        raise ApiError.message(400, f"'limit' parameter is not a valid integer: {raw}") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError.message(400, f"'limit' parameter must be between 1 and {MAX_LIMIT}")
    return limit


def page_token(params: dict[str, str], offset: int) -> str:
    raw = json.dumps({"q": params, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_page_token(token: str) -> tuple[dict[str, str], int]:
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return {str(k): str(v) for k, v in document["q"].items()}, int(document["o"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ApiError.message(400, "Invalid page token") from exc


def events_page(events: list[dict[str, Any]], params: dict[str, str], offset: int, base_url: str) -> dict[str, Any]:
    """One page of the Events API with its ``paging`` links (opaque page tokens, as Mailgun's)."""
    query = {key: value for key, value in params.items() if key != "page"}
    limit = limit_of(query)
    matching = query_events(events, query)
    items = matching[offset : offset + limit]
    last = max(0, len(matching) - limit)
    return {
        "items": items,
        "paging": {
            "first": f"{base_url}/{page_token(query, 0)}",
            "last": f"{base_url}/{page_token(query, last)}",
            "next": f"{base_url}/{page_token(query, offset + len(items) if items else offset)}",
            "previous": f"{base_url}/{page_token(query, max(0, offset - limit))}",
        },
    }
