"""Mailgun's webhooks: the payload as tagmail reads it, and the signature that makes it trustworthy.

Mailgun signs only `timestamp + token`, not the event; a token is therefore good for one delivery
(the receiver keeps the tokens it has seen) and only for a few minutes around its timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from tagmail.domain.sending import MessageStatus
from tagmail.domain.stats import Counter
from tagmail.domain.suppressions import SuppressionReason
from tagmail.errors import InvalidInput, PayloadTooLarge, Rejected

# Every webhook type Mailgun has; tagmail registers and records them all.
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
MAX_WEBHOOK_BODY = 256 * 1024
# Mailgun's tokens are 50 characters; anything far longer is not Mailgun's.
MAX_TOKEN_LENGTH = 256
# Event ids are unique only within a day, so a claimed id is kept a little longer than that.
EVENT_ID_RETENTION = timedelta(days=2)


@dataclass(frozen=True)
class WebhookSignature:
    timestamp: str
    token: str
    signature: str


@dataclass(frozen=True)
class MailgunEvent:
    """One webhook delivery; nothing in it is trusted before `verify_signature` passed."""

    signature: WebhookSignature
    event: str  # accepted, delivered, opened, clicked, failed, complained, unsubscribed
    event_id: str
    occurred_at: datetime
    domain: str | None
    recipient: str | None
    severity: str | None = None
    reason: str | None = None
    delivery_code: str | None = None
    delivery_description: str | None = None
    project_id: str | None = None  # user-variables.tagmail_project
    send_key: str | None = None  # user-variables.tagmail_send

    @property
    def status(self) -> MessageStatus | None:
        """The message status this event reports; None for an event tagmail does not record."""
        if self.event == "failed":
            return MessageStatus.FAILED_TEMPORARY if self.severity == "temporary" else MessageStatus.FAILED_PERMANENT
        return _STATUS_OF.get(self.event)

    @property
    def detail(self) -> str | None:
        """What the status history keeps beside the status: why a delivery failed."""
        if self.event != "failed":
            return None
        parts = [p for p in (self.delivery_code, self.reason, self.delivery_description) if p]
        return " ".join(parts)[:500] or None

    @property
    def suppression_reason(self) -> SuppressionReason | None:
        """Why this event stops all further mail to the address, if it does (soft bounces never do)."""
        status = self.status
        if status is MessageStatus.COMPLAINED:
            return SuppressionReason.COMPLAINT
        if status is not MessageStatus.FAILED_PERMANENT:
            return None
        # Mailgun refusing to send because the address is on its own lists keeps that list's reason.
        return {
            "suppress-complaint": SuppressionReason.COMPLAINT,
            "suppress-unsubscribe": SuppressionReason.UNSUBSCRIBE,
        }.get(self.reason or "", SuppressionReason.BOUNCE)


_STATUS_OF = {
    "accepted": MessageStatus.ACCEPTED,
    "delivered": MessageStatus.DELIVERED,
    "opened": MessageStatus.OPENED,
    "clicked": MessageStatus.CLICKED,
    "complained": MessageStatus.COMPLAINED,
    "unsubscribed": MessageStatus.UNSUBSCRIBED,
}

# The send path counts ACCEPTED when Mailgun takes the mail, so the `accepted` webhook counts nothing.
_COUNTER_OF = {
    MessageStatus.DELIVERED: Counter.DELIVERED,
    MessageStatus.OPENED: Counter.OPENED,
    MessageStatus.CLICKED: Counter.CLICKED,
    MessageStatus.FAILED_TEMPORARY: Counter.FAILED_TEMPORARY,
    MessageStatus.FAILED_PERMANENT: Counter.FAILED_PERMANENT,
    MessageStatus.COMPLAINED: Counter.COMPLAINED,
    MessageStatus.UNSUBSCRIBED: Counter.UNSUBSCRIBED,
}
_UNIQUE_COUNTER_OF = {MessageStatus.OPENED: Counter.UNIQUE_OPENED, MessageStatus.CLICKED: Counter.UNIQUE_CLICKED}


def counters_for(status: MessageStatus, first_of_its_kind: bool) -> dict[Counter, int]:
    """The counters one event adds; `first_of_its_kind`: the message's first open (or click)."""
    counts: dict[Counter, int] = {}
    if status in _COUNTER_OF:
        counts[_COUNTER_OF[status]] = 1
    if first_of_its_kind and status in _UNIQUE_COUNTER_OF:
        counts[_UNIQUE_COUNTER_OF[status]] = 1
    return counts


def parse_webhook(body: bytes) -> MailgunEvent:
    """Read a webhook body; InvalidInput (PayloadTooLarge) when it is not Mailgun's shape."""
    if len(body) > MAX_WEBHOOK_BODY:
        raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BODY} bytes", field="body")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the webhook body is not JSON", field="body") from exc
    if not isinstance(document, dict):
        raise InvalidInput("the webhook body is not a JSON object", field="body")
    signed = _object(document, "signature")
    data = _object(document, "event-data")
    signature = WebhookSignature(
        timestamp=_text(signed, "timestamp", "signature.timestamp", required=True) or "",
        token=_text(signed, "token", "signature.token", required=True) or "",
        signature=_text(signed, "signature", "signature.signature", required=True) or "",
    )
    if not signature.timestamp.isdigit() or len(signature.token) > MAX_TOKEN_LENGTH:
        raise InvalidInput("the webhook signature block is malformed", field="signature")

    event = (_text(data, "event", "event-data.event", required=True) or "").lower()
    severity = (_text(data, "severity", "event-data.severity") or "").lower() or None
    if event == "failed" and severity not in ("temporary", "permanent"):
        raise InvalidInput("a failed event needs severity temporary or permanent", field="event-data.severity")
    status = data.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    variables = data.get("user-variables")
    variables = variables if isinstance(variables, dict) else {}  # Mailgun sends [] when there are none
    return MailgunEvent(
        signature=signature,
        event=event,
        event_id=_text(data, "id", "event-data.id", required=True) or "",
        occurred_at=_event_time(data.get("timestamp")),
        domain=_domain_named(data),
        recipient=_text(data, "recipient", "event-data.recipient"),
        severity=severity,
        reason=_text(data, "reason", "event-data.reason"),
        delivery_code=_scalar_text(status.get("code")),
        delivery_description=_scalar_text(status.get("description")) or _scalar_text(status.get("message")),
        project_id=_scalar_text(variables.get("tagmail_project")),
        send_key=_scalar_text(variables.get("tagmail_send")),
    )


def verify_signature(signing_key: str, signature: WebhookSignature, now: datetime, tolerance: timedelta) -> None:
    """Raise Rejected unless Mailgun signed this with `signing_key` within `tolerance` of now."""
    expected = sign(signing_key, signature.timestamp, signature.token)
    if not hmac.compare_digest(expected.encode("ascii"), signature.signature.lower().encode("utf-8")):
        raise Rejected("the webhook signature does not verify")
    signed_at = datetime.fromtimestamp(int(signature.timestamp), UTC)
    if abs(now - signed_at) > tolerance:
        raise Rejected("the webhook signature is too old (or from the future)")


def sign(signing_key: str, timestamp: str, token: str) -> str:
    """Mailgun's signature of (timestamp, token): for tests, fixtures and the local sandbox."""
    return hmac.new(signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256).hexdigest()


def _domain_named(data: Mapping[str, Any]) -> str | None:
    """The sending domain the event names: `domain.name`, else the envelope sender's, else From's."""
    domain = data.get("domain")
    if isinstance(domain, dict) and isinstance(domain.get("name"), str) and domain["name"].strip():
        return str(domain["name"]).strip().lower()
    envelope = data.get("envelope")
    if isinstance(envelope, dict) and isinstance(envelope.get("sender"), str):
        found = _address_domain(envelope["sender"])
        if found:
            return found
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    if isinstance(headers, dict) and isinstance(headers.get("from"), str):
        return _address_domain(headers["from"])
    return None


def _address_domain(value: str) -> str | None:
    _, address = parseaddr(value)
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    return domain if "@" in address and domain else None


def _event_time(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput("the event has no timestamp", field="event-data.timestamp")
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidInput("the event timestamp is not epoch seconds", field="event-data.timestamp") from exc


def _object(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = document.get(name)
    if not isinstance(value, dict):
        raise InvalidInput(f"the webhook has no {name} object", field=name)
    return value


def _text(document: Mapping[str, Any], name: str, where: str, required: bool = False) -> str | None:
    value = _scalar_text(document.get(name))
    if required and not value:
        raise InvalidInput(f"the webhook has no {where}", field=where)
    return value


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text or None
