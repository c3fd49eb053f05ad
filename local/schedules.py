"""Schedule / ScheduleV2 event sources: timers that invoke a function with a scheduled event.

Expressions follow EventBridge: ``rate(5 minutes)``, ``cron(0/5 * * * ? *)`` (UTC) and
``at(2030-01-01T00:00:00)``. Tests call ``run_now`` instead of waiting for the clock.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from local.runner import EventSource, Invocable
from local.template import TemplateError

logger = logging.getLogger(__name__)

_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {
    name: index + 1
    for index, name in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_WEEKDAYS = {name: index + 1 for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """Values a cron field allows; None for '*' or '?' (anything)."""
    if text in ("*", "?"):
        return None
    stripped = text.upper()
    for name in names or {}:
        stripped = stripped.replace(name, "")
    if re.search(r"[LW#]", stripped):
        raise TemplateError(f"cron field {text!r}: L, W and # are not supported locally")
    values: set[int] = set()

    def number(token: str) -> int:
        return names[token.upper()] if names and token.upper() in names else int(token)

    for item in text.split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = number(first), number(last)
        else:
            start = number(part)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    if not all(low <= value <= high for value in values):
        raise TemplateError(f"cron field {text!r} is out of range {low}-{high}")
    return values


class Cron:
    """An EventBridge cron expression (six fields, UTC)."""

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 6:
            raise TemplateError(f"cron({expression}) needs 6 fields")
        minutes, hours, days, months, weekdays, years = fields
        self.minutes = _field(minutes, 0, 59)
        self.hours = _field(hours, 0, 23)
        self.days = _field(days, 1, 31)
        self.months = _field(months, 1, 12, _MONTHS)
        self.weekdays = _field(weekdays, 1, 7, _WEEKDAYS)
        self.years = _field(years, 1970, 2199)

    def _day_matches(self, day: datetime) -> bool:
        weekday = (day.isoweekday() % 7) + 1  # EventBridge: 1 = Sunday
        return (
            (self.years is None or day.year in self.years)
            and (self.months is None or day.month in self.months)
            and (self.days is None or day.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
        )

    def next_after(self, moment: datetime) -> datetime | None:
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours) if self.hours is not None else range(24):
                    for minute in sorted(self.minutes) if self.minutes is not None else range(60):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


def next_fire(expression: str, after: datetime) -> datetime | None:
    """When a schedule expression next fires after ``after`` (UTC); None when never again."""
    match = re.fullmatch(r"(rate|cron|at)\((.*)\)", expression.strip())
    if match is None:
        raise TemplateError(f"unsupported schedule expression {expression!r}")
    kind, body = match.groups()
    if kind == "rate":
        amount, unit = body.split()
        if unit not in _RATE_UNITS or int(amount) < 1:
            raise TemplateError(f"bad rate expression {expression!r}")
        return after + timedelta(seconds=int(amount) * _RATE_UNITS[unit])
    if kind == "cron":
        return Cron(body).next_after(after)
    moment = datetime.fromisoformat(body).replace(tzinfo=UTC)
    return moment if moment > after else None


class ScheduleTimer:
    """One Schedule/ScheduleV2 event of one function."""

    def __init__(self, function: Invocable, source: EventSource, region: str, account_id: str) -> None:
        props = source.properties
        self.function = function
        self.name = f"{function.logical_id}.{source.name}"
        self.v2 = source.type == "ScheduleV2"
        self.expression = str(props.get("ScheduleExpression") if self.v2 else props.get("Schedule"))
        next_fire(self.expression, datetime.now(UTC))  # validate now, not at first fire
        state = props.get("State", "ENABLED")
        self.enabled = bool(props.get("Enabled", True)) and state != "DISABLED"
        raw_input = props.get("Input")
        self.input = json.loads(raw_input) if isinstance(raw_input, str) else raw_input
        self.region = region
        self.account_id = account_id
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def event(self, now: datetime | None = None) -> Any:
        if self.input is not None:
            return self.input
        now = now or datetime.now(UTC)
        if self.v2:
            resource = f"arn:aws:scheduler:{self.region}:{self.account_id}:schedule/default/{self.name}"
        else:
            resource = f"arn:aws:events:{self.region}:{self.account_id}:rule/{self.name}"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler" if self.v2 else "aws.events",
            "account": self.account_id,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [resource],
            "detail": {},
        }

    def run_now(self) -> Any:
        """Invoke the function once, as if the schedule fired now; returns its result."""
        with self._lock:  # EventBridge would not overlap one schedule with itself locally either
            return self.function(self.event())

    def start(self) -> None:
        if not self.enabled:
            logger.info("schedule disabled", extra={"schedule": self.name})
            return
        self._thread = threading.Thread(target=self._run, name=f"schedule-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            now = datetime.now(UTC)
            fire_at = next_fire(self.expression, now)
            if fire_at is None:
                return
            if self._stopping.wait((fire_at - now).total_seconds()):
                return
            try:
                self.run_now()
            except Exception:
                logger.exception("scheduled invocation failed", extra={"schedule": self.name})
