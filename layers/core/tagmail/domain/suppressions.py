"""Addresses a project must never mail again (until an admin removes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"  # a permanent failure: the mailbox does not exist
    COMPLAINT = "complaint"  # the recipient reported the mail as spam
    UNSUBSCRIBE = "unsubscribe"  # unsubscribed through Mailgun's own link
    MANUAL = "manual"  # added by an admin or imported


@dataclass(frozen=True)
class Suppression:
    project_id: str
    address: str  # canonical (lower-case) form
    reason: SuppressionReason
    created_at: datetime
    detail: str | None = None
