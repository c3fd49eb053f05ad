"""Sending limits in time: the calendar month in the project's time zone, the rolling 24 hours in
hourly buckets, the second; the 90 % / 100 % thresholds of the monthly limit; and the hold a send
takes on the counts before Mailgun is called."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The notification address gets one mail when the month's sends reach each of these percentages.
THRESHOLDS = (90, 100)
# The rolling 24 hours are the current UTC hour and the 23 before it.
WINDOW_HOURS = 24
# Zones without daylight saving time, for a runtime that lacks the time zone database.
_FIXED_OFFSETS = {"UTC": 0, "Etc/UTC": 0, "Asia/Tokyo": 9, "Asia/Seoul": 9, "Asia/Shanghai": 8, "Asia/Singapore": 8}


def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone(timedelta(hours=_FIXED_OFFSETS.get(name, 0)))


def month_of(moment: datetime, timezone_name: str) -> str:
    """The calendar month ("2026-12") `moment` falls in, in the project's time zone."""
    return moment.astimezone(zone(timezone_name)).strftime("%Y-%m")


def month_bounds(month: str, timezone_name: str) -> tuple[datetime, datetime]:
    """When the month starts and when the next one starts, in UTC."""
    year, number = (int(part) for part in month.split("-"))
    local = zone(timezone_name)
    start = datetime(year, number, 1, tzinfo=local)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=local)
    return start.astimezone(UTC), end.astimezone(UTC)


def hour_of(moment: datetime) -> str:
    """The UTC hour bucket ("2026-12-01T09") of the rolling 24-hour count."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def window_before(moment: datetime) -> tuple[str, str]:
    """The first and last of the 23 hour buckets before `moment`'s (its own is counted apart)."""
    hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour_of(hour - timedelta(hours=WINDOW_HOURS - 1)), hour_of(hour - timedelta(hours=1))


def window_reopens(moment: datetime) -> datetime:
    """When the oldest hour of the 24-hour window falls out of it."""
    hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour + timedelta(hours=1)


def month_period(month: str) -> str:
    return f"m#{month}"


def hour_period(hour: str) -> str:
    return f"h#{hour}"


def second_period(moment: datetime) -> str:
    return f"s#{int(moment.timestamp()):010d}"


def threshold_count(limit: int, percent: int) -> int:
    """The number of sends that reaches `percent` of `limit` (90 % of 25 is reached at 23)."""
    return max(1, math.ceil(limit * percent / 100))


def thresholds_reached(limit: int, sent: int) -> tuple[int, ...]:
    return tuple(percent for percent in THRESHOLDS if sent >= threshold_count(limit, percent))


def thresholds_crossed(limit: int, before: int, after: int) -> tuple[int, ...]:
    """The thresholds a count moving from `before` to `after` reached just now."""
    return tuple(percent for percent in THRESHOLDS if before < threshold_count(limit, percent) <= after)


@dataclass(frozen=True)
class QuotaHold:
    """The place a send took in the counts before calling Mailgun: the month and the UTC hour it was
    counted in, and how many recipients it counted. It stays on the message record, so a send taken
    over after a crash keeps its place instead of counting twice, and a failed one gives back exactly
    what it took."""

    month: str
    hour: str
    recipients: int

    def encode(self) -> str:
        return f"{self.month}|{self.hour}|{self.recipients}"

    @classmethod
    def decode(cls, text: str) -> QuotaHold:
        month, hour, recipients = text.split("|")
        return cls(month, hour, int(recipients))
