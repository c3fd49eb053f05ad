"""Send requests (what goes on the send queue) and the message records that follow each send."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from tagmail.domain.usage import QuotaHold
from tagmail.errors import InvalidInput

SEND_REQUEST_VERSION = 1
# Campaign id of mails that belong to no campaign (test sends, operational notices).
DIRECT = "direct"


class SendKind(StrEnum):
    MARKETING = "marketing"  # consent, suppressions and the unsubscribe footer apply
    OPERATIONAL = "operational"  # notices to the project's own people: no footer, no consent rules
    TEST = "test"  # a marketing mail rendered for review, sent to a given address


@dataclass(frozen=True)
class SendRequest:
    project_id: str
    kind: SendKind
    template_id: str
    # What makes this send unique within (project, campaign, recipient): the entry event id of a
    # trigger, a delivery id, a test-send id. Redelivering the same request can never send twice.
    occurrence: str
    campaign_id: str = DIRECT
    variant: str = "-"
    template_version: int | None = None
    user_key: str | None = None
    to: str | None = None
    locale: str | None = None
    event: dict[str, Any] | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    # The locale for a reader whose own the template lacks (a campaign's default).
    default_locale: str | None = None
    # A trigger send carries what the send path checks again just before sending: no exit event
    # since entry (matching the key property's value, when set), the campaign not paused since.
    entered_at: str | None = None
    exit_events: list[str] | None = None
    exit_key_property: str | None = None
    exit_key_value: str | None = None
    campaign_epoch: int | None = None

    @property
    def send_key(self) -> str:
        recipient = self.user_key or f"to:{(self.to or '').lower()}"
        material = "\x1f".join((self.project_id, self.campaign_id, recipient, self.occurrence))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]

    def to_json(self) -> str:
        document: dict[str, Any] = {"v": SEND_REQUEST_VERSION, **self.__dict__, "kind": self.kind.value}
        return json.dumps({k: v for k, v in document.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SendRequest:
        """Parse a queue message; a malformed one is InvalidInput (it can never succeed)."""
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise InvalidInput("the send request is not JSON", field="body") from exc
        if not isinstance(document, dict) or document.pop("v", None) != SEND_REQUEST_VERSION:
            raise InvalidInput("the send request has no known version", field="v")
        try:
            request = cls(**{**document, "kind": SendKind(str(document.get("kind")))})
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"the send request is malformed: {exc}", field="body") from exc
        for name in ("project_id", "template_id", "occurrence"):
            if not isinstance(getattr(request, name), str) or not getattr(request, name):
                raise InvalidInput(f"the send request has no {name}", field=name)
        if not (request.user_key or request.to):
            raise InvalidInput("the send request names no recipient (user_key or to)", field="user_key")
        if request.kind is SendKind.MARKETING and not request.user_key:
            raise InvalidInput("a marketing send needs a user, whose consent is checked", field="user_key")
        return request


class MessageStatus(StrEnum):
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED_TEMPORARY = "failed_temporary"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    FAILED_PERMANENT = "failed_permanent"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    SKIPPED = "skipped"
    FAILED = "failed"  # never reached Mailgun (render or configuration failure)


# The skip reason of a send the monthly limit stopped; the same request sends it once the limit
# allows again (a new month, a raised limit), so a list delivery can resume where it stopped.
QUOTA_EXHAUSTED = "quota_exhausted"


# Webhooks arrive out of order: a status only moves forward along this ranking, so a late
# `delivered` never hides an `opened`.
_RANK = {
    MessageStatus.SENDING: 0,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.FAILED_TEMPORARY: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.OPENED: 4,
    MessageStatus.CLICKED: 5,
    MessageStatus.FAILED_PERMANENT: 6,
    MessageStatus.UNSUBSCRIBED: 7,
    MessageStatus.COMPLAINED: 8,
    MessageStatus.SKIPPED: 9,
    MessageStatus.FAILED: 9,
}


def advance(current: MessageStatus, reported: MessageStatus) -> MessageStatus:
    return reported if _RANK[reported] > _RANK[current] else current


@dataclass(frozen=True)
class StatusChange:
    status: MessageStatus
    at: datetime
    detail: str | None = None


@dataclass(frozen=True)
class MessageRecord:
    project_id: str
    send_key: str
    kind: SendKind
    status: MessageStatus
    campaign_id: str
    variant: str
    created_at: datetime
    updated_at: datetime
    recipient: str | None = None
    user_key: str | None = None
    template_id: str | None = None
    template_version: int | None = None
    locale: str | None = None
    mailgun_id: str | None = None
    reason: str | None = None
    # A `sending` record is a lease: if the sender dies, another may take over after it ends.
    lease_until: datetime | None = None
    # The place this send holds in the sending counts (see QuotaHold); None when it holds none.
    quota_hold: QuotaHold | None = None
    history: tuple[StatusChange, ...] = ()
    # The stored revision this record was read at; writes are conditional on it.
    revision: int | None = None

    def with_status(self, status: MessageStatus, at: datetime, detail: str | None = None) -> MessageRecord:
        return replace(
            self,
            status=advance(self.status, status),
            updated_at=at,
            history=(*self.history, StatusChange(status, at, detail)),
        )
