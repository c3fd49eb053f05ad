"""What is counted per campaign and variant."""

from __future__ import annotations

from enum import StrEnum


class Counter(StrEnum):
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    OPENED = "opened"
    UNIQUE_OPENED = "unique_opened"
    CLICKED = "clicked"
    UNIQUE_CLICKED = "unique_clicked"
    FAILED_TEMPORARY = "failed_temporary"
    FAILED_PERMANENT = "failed_permanent"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    SKIPPED = "skipped"
    FAILED = "failed"
    # Trigger campaigns: users entered (a variant or the holdout), sends created (now or
    # delayed), pending sends cancelled (exit event, pause), holdout entries, entries capped.
    ENTERED = "entered"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    HOLDOUT = "holdout"
    CAPPED = "capped"
    # Users who did the campaign's conversion event within its window (see CampaignEntry).
    CONVERTED = "converted"
