"""The trigger part of a campaign: which event enters a user, which events take them out again,
when the mail is due, and how often one user may get it. List and scheduled deliveries have no
such part; everything they share with triggers lives in tagmail.domain.campaigns."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tagmail.errors import InvalidInput

MAX_DELAY = timedelta(days=90)
MAX_EVENT_NAME = 255
MAX_CONDITIONS = 20
MAX_IN_VALUES = 100
MAX_EXIT_EVENTS = 10
MAX_DAILY_LIMIT = 100


class Operator(StrEnum):
    EQUALS = "equals"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EXISTS = "exists"


_NUMERIC = {
    Operator.GT: lambda a, b: a > b,
    Operator.GTE: lambda a, b: a >= b,
    Operator.LT: lambda a, b: a < b,
    Operator.LTE: lambda a, b: a <= b,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def lookup(values: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path ("cart.total") in nested objects."""
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


@dataclass(frozen=True)
class Condition:
    """A test on one event property or user attribute; `field` may be a dotted path."""

    field: str
    operator: Operator
    # A scalar; a list of scalars for IN; for EXISTS, whether the field must exist (True) or not.
    value: Any = None

    def __post_init__(self) -> None:
        if not self.field.strip() or len(self.field) > MAX_EVENT_NAME:
            raise InvalidInput("a condition needs a field name of at most 255 characters", field="field")
        if self.operator is Operator.IN:
            if not isinstance(self.value, (list, tuple)) or not 0 < len(self.value) <= MAX_IN_VALUES:
                raise InvalidInput(f"'in' needs a list of 1 to {MAX_IN_VALUES} values", field="value")
            if not all(_is_scalar(item) for item in self.value):
                raise InvalidInput("'in' values must be strings, numbers or booleans", field="value")
            object.__setattr__(self, "value", tuple(self.value))
        elif self.operator in _NUMERIC:
            if not _is_number(self.value):
                raise InvalidInput(f"'{self.operator.value}' compares with a number", field="value")
        elif self.operator is Operator.EXISTS:
            if self.value is None:
                object.__setattr__(self, "value", True)
            elif not isinstance(self.value, bool):
                raise InvalidInput("'exists' takes true or false", field="value")
        elif not _is_scalar(self.value):
            raise InvalidInput("'equals' compares with a string, number or boolean", field="value")

    def holds(self, values: Mapping[str, Any]) -> bool:
        found, actual = lookup(values, self.field)
        found = found and actual is not None
        if self.operator is Operator.EXISTS:
            return found is self.value
        if not found:
            return False
        if self.operator is Operator.EQUALS:
            return _same(actual, self.value)
        if self.operator is Operator.IN:
            return any(_same(actual, option) for option in self.value)
        return _is_number(actual) and bool(_NUMERIC[self.operator](actual, self.value))


def _same(actual: Any, expected: Any) -> bool:
    # True == 1 in Python; a shop's `true` is not its `1`.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    if _is_number(actual) and _is_number(expected):
        return bool(actual == expected)
    return type(actual) is type(expected) and bool(actual == expected)


class TimingKind(StrEnum):
    IMMEDIATE = "immediate"
    DELAY = "delay"  # a fixed duration after the entry event
    LOCAL_TIME = "local_time"  # N days after the entry's local date, at a local time of day


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which no mail goes out; a mail due inside them waits for their end.
    `start` > `end` spans midnight (21:00-08:00)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InvalidInput("quiet hours must not start when they end", field="quiet_hours")

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def release(self, due: datetime, zone: tzinfo) -> datetime:
        """`due`, or the end of the quiet hours it falls in."""
        local = due.astimezone(zone)
        if not self.contains(local.time()):
            return due
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)  # the window ends tomorrow morning
        return _at_local(day, self.end, zone)


@dataclass(frozen=True)
class Timing:
    kind: TimingKind = TimingKind.IMMEDIATE
    # DELAY: how long after the entry event (absolute time: "2 days" is 48 hours).
    delay: timedelta = timedelta(0)
    # LOCAL_TIME: days after the local date of the entry event, and the local time of day.
    days: int = 0
    at: time | None = None
    quiet_hours: QuietHours | None = None

    def __post_init__(self) -> None:
        if self.kind is TimingKind.DELAY and not timedelta(seconds=1) <= self.delay <= MAX_DELAY:
            raise InvalidInput("a delay is 1 second to 90 days", field="timing.delay_seconds")
        if self.kind is not TimingKind.DELAY and self.delay:
            raise InvalidInput("only a 'delay' timing has a delay", field="timing.delay_seconds")
        if self.kind is TimingKind.LOCAL_TIME:
            if self.at is None:
                raise InvalidInput("a 'local_time' timing needs the time of day", field="timing.at")
            if not 0 <= self.days <= MAX_DELAY.days:
                raise InvalidInput("days are 0 to 90", field="timing.days")
        elif self.at is not None or self.days:
            raise InvalidInput("only a 'local_time' timing has days and a time of day", field="timing.at")

    @property
    def needs_time_zone(self) -> bool:
        return self.kind is TimingKind.LOCAL_TIME or self.quiet_hours is not None


@dataclass(frozen=True)
class FrequencyCap:
    # At most one entry per user into this campaign per period (None: no limit).
    period: timedelta | None = timedelta(days=1)
    # At most this many trigger mails per user and day across the project (None: no limit).
    project_daily_limit: int | None = None

    def __post_init__(self) -> None:
        if self.period is not None and not timedelta(seconds=1) <= self.period <= timedelta(days=365):
            raise InvalidInput("a cap period is 1 second to 365 days", field="frequency_cap.period_seconds")
        if self.project_daily_limit is not None and not 1 <= self.project_daily_limit <= MAX_DAILY_LIMIT:
            raise InvalidInput(
                f"the project-wide daily limit is 1 to {MAX_DAILY_LIMIT}", field="frequency_cap.project_daily_limit"
            )


@dataclass(frozen=True)
class TriggerRule:
    """Entry, exit, timing and caps of a trigger campaign."""

    entry_event: str
    event_conditions: tuple[Condition, ...] = ()
    user_conditions: tuple[Condition, ...] = ()
    exit_events: tuple[str, ...] = ()
    # Matched between entry and exit when set (e.g. "cart_id": only buying that cart exits).
    exit_key_property: str | None = None
    timing: Timing = field(default_factory=Timing)
    frequency_cap: FrequencyCap = field(default_factory=FrequencyCap)

    def __post_init__(self) -> None:
        for name in (self.entry_event, *self.exit_events):
            if not name.strip() or len(name) > MAX_EVENT_NAME:
                raise InvalidInput("event names are 1 to 255 characters", field="trigger.entry_event")
        if len(self.exit_events) > MAX_EXIT_EVENTS or len(set(self.exit_events)) != len(self.exit_events):
            raise InvalidInput(f"up to {MAX_EXIT_EVENTS} distinct exit events", field="trigger.exit_events")
        if self.entry_event in self.exit_events:
            raise InvalidInput("the entry event cannot also be an exit event", field="trigger.exit_events")
        if len(self.event_conditions) > MAX_CONDITIONS or len(self.user_conditions) > MAX_CONDITIONS:
            raise InvalidInput(f"at most {MAX_CONDITIONS} conditions each", field="trigger.event_conditions")
        if self.exit_key_property is not None and not self.exit_events:
            raise InvalidInput("a key property needs exit events", field="trigger.exit_key_property")

    @property
    def needs_profile(self) -> bool:
        return bool(self.user_conditions) or self.timing.needs_time_zone

    def enters(self, event: str | None, properties: Mapping[str, Any]) -> bool:
        return event == self.entry_event and all(c.holds(properties) for c in self.event_conditions)

    def admits(self, attributes: Mapping[str, Any]) -> bool:
        return all(c.holds(attributes) for c in self.user_conditions)

    def key_value(self, properties: Mapping[str, Any]) -> str | None:
        """The entry's key (e.g. its cart id) that an exit event must name too."""
        if self.exit_key_property is None:
            return None
        return key_text(properties, self.exit_key_property)

    def is_exit(self, event: str | None) -> bool:
        return event is not None and event in self.exit_events


def key_text(properties: Mapping[str, Any], key_property: str) -> str | None:
    found, value = lookup(properties, key_property)
    if not found or value is None or isinstance(value, (Mapping, list)):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def exit_applies(entry_key_value: str | None, key_property: str | None, exit_properties: Mapping[str, Any]) -> bool:
    """Whether an exit event takes out an entry: always without a key, else only the same key. An
    entry that carried no key value is taken out by any exit event."""
    if key_property is None or entry_key_value is None:
        return True
    return key_text(exit_properties, key_property) == entry_key_value


# -- time ---------------------------------------------------------------------------------------


def zone_of(*names: str | None) -> tzinfo:
    """The first valid IANA zone of `names` (the user's, then the project's), else UTC."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def _at_local(day: date, moment: time, zone: tzinfo) -> datetime:
    # A wall time skipped by a daylight-saving change (02:30 on the spring-forward day) reads with
    # the offset before the change, which lands after the gap (03:30): never earlier than asked.
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def due_at(entry_time: datetime, timing: Timing, user_tz: str | None, project_tz: str | None) -> datetime:
    """When a mail entered at `entry_time` is due (UTC). Local times are the user's time zone,
    falling back to the project's, then UTC."""
    zone = zone_of(user_tz, project_tz)
    entry = entry_time.astimezone(UTC)
    if timing.kind is TimingKind.DELAY:
        due = entry + timing.delay
    elif timing.kind is TimingKind.LOCAL_TIME:
        assert timing.at is not None
        day = entry.astimezone(zone).date() + timedelta(days=timing.days)
        due = _at_local(day, timing.at, zone)
        if due <= entry:  # "0 days later at 10:00" after 10:00: the next day
            due = _at_local(day + timedelta(days=1), timing.at, zone)
    else:
        due = entry
    if timing.quiet_hours is not None:
        due = timing.quiet_hours.release(due, zone)
    return due


def wait_timestamp(due: datetime) -> str:
    """A Step Functions Wait timestamp: UTC, `Z`, whole seconds rounded up (never early)."""
    moment = due.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign_cap_key(project_id: str, campaign_id: str, user_key: str) -> str:
    """Held by the entry that last took the user into the campaign, for the cap's period."""
    return f"cap:{project_id}#{campaign_id}#{user_key}"


def daily_cap_key(project_id: str, user_key: str, day: date) -> str:
    """Counts the user's trigger mails of the project due that (UTC) day."""
    return f"cap-day:{project_id}#{user_key}#{day.isoformat()}"


def entry_token(campaign_id: str, entry_id: str) -> str:
    """What an entry holds or counts on a cap: the same entry again holds it still."""
    return f"{campaign_id}:{entry_id}"


def execution_name(project_id: str, campaign_id: str, user_key: str, entry_id: str) -> str:
    """The delayed send's execution name: the same entry can never be scheduled twice."""
    material = "\x1f".join((project_id, campaign_id, user_key, entry_id))
    return "ds-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:64]


# -- entries ------------------------------------------------------------------------------------


class EntryOutcome(StrEnum):
    SCHEDULED = "scheduled"  # a delayed send is pending
    QUEUED = "queued"  # sent to the send queue at once
    HOLDOUT = "holdout"  # measured, never mailed
    CAPPED = "capped"  # refused by a frequency cap
    CANCELLED = "cancelled"  # a pending send stopped by an exit event or a pause


@dataclass(frozen=True)
class CampaignEntry:
    """One user entering one campaign through one event: its group (variant or holdout), what
    became of it, and for a pending send what can stop it."""

    project_id: str
    campaign_id: str
    user_key: str
    entry_id: str
    group: str
    outcome: EntryOutcome
    entered_at: datetime
    due_at: datetime | None = None
    execution_arn: str | None = None
    exit_key_value: str | None = None
    reason: str | None = None
    converted_at: datetime | None = None
    # The conversion event that converted it (a redelivered one converts nothing more).
    converted_by: str | None = None

    def is_pending(self, now: datetime) -> bool:
        return self.outcome is EntryOutcome.SCHEDULED and self.due_at is not None and self.due_at > now

    def is_waiting(self, now: datetime) -> bool:
        """Before its due time: a pending send, or a holdout entry whose mail would still wait
        (an exit event then takes it out too, so both groups are measured alike)."""
        waits = self.outcome in (EntryOutcome.SCHEDULED, EntryOutcome.HOLDOUT)
        return waits and self.due_at is not None and self.due_at > now

    @property
    def measured_from(self) -> datetime | None:
        """When conversions start to count: the send (or, for the holdout, when the mail would
        have gone). None for an entry that never mails and is not held out."""
        if self.outcome in (EntryOutcome.QUEUED, EntryOutcome.SCHEDULED, EntryOutcome.HOLDOUT):
            return self.due_at or self.entered_at
        return None

    def converts_at(self, moment: datetime, window: timedelta) -> bool:
        start = self.measured_from
        return self.converted_at is None and start is not None and start <= moment <= start + window


def revenue_of(properties: Mapping[str, Any], revenue_property: str | None) -> float:
    """The revenue a conversion event states (0 when it states none, or not as a number)."""
    if revenue_property is None:
        return 0.0
    found, value = lookup(properties, revenue_property)
    return float(value) if found and _is_number(value) else 0.0


def parse_event_time(text: str) -> datetime:
    """The stored `ts` of an event (ISO 8601, `Z`)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def event_time_text(moment: datetime) -> str:
    """The form the events table stores times in, so stored times compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unique(values: Sequence[str | None]) -> tuple[str, ...]:
    """The values that are set, each once, in order."""
    return tuple(dict.fromkeys(value for value in values if value))
