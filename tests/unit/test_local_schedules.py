"""Schedule expressions and the scheduled event the local timers deliver."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from local.runner import EventSource
from local.schedules import ScheduleTimer, next_fire
from local.template import TemplateError

NOW = datetime(2026, 12, 4, 9, 30, 15, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 minute)", datetime(2026, 12, 4, 9, 31, 15, tzinfo=UTC)),
        ("rate(2 hours)", datetime(2026, 12, 4, 11, 30, 15, tzinfo=UTC)),
        ("rate(1 day)", datetime(2026, 12, 5, 9, 30, 15, tzinfo=UTC)),
        ("cron(* * * * ? *)", datetime(2026, 12, 4, 9, 31, tzinfo=UTC)),
        ("cron(0/15 * * * ? *)", datetime(2026, 12, 4, 9, 45, tzinfo=UTC)),
        ("cron(0 3 * * ? *)", datetime(2026, 12, 5, 3, 0, tzinfo=UTC)),
        ("cron(0 8 ? * MON-FRI *)", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        ("cron(0 8 ? * 2 *)", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),  # 2 = Monday
        ("cron(30 9 1 JAN ? *)", datetime(2027, 1, 1, 9, 30, tzinfo=UTC)),
        ("cron(0 0 1,15 * ? 2027)", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("at(2026-12-24T18:00:00)", datetime(2026, 12, 24, 18, 0, tzinfo=UTC)),
        ("at(2020-01-01T00:00:00)", None),
    ],
)
def test_next_fire(expression: str, expected: datetime | None) -> None:
    assert next_fire(expression, NOW) == expected


@pytest.mark.parametrize(
    "expression", ["rate(0 minutes)", "rate(5 weeks)", "cron(0 8 L * ? *)", "cron(0 8 ? * MON#1 *)", "every day"]
)
def test_unsupported_expressions_are_refused(expression: str) -> None:
    with pytest.raises(TemplateError):
        next_fire(expression, NOW)


class _Function:
    logical_id = "Scheduled"

    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any, context: Any = None) -> str:
        self.events.append(event)
        return "done"


def test_run_now_delivers_the_eventbridge_scheduled_event() -> None:
    function = _Function()
    source = EventSource("Daily", "Schedule", {"Schedule": "rate(1 day)"})
    timer = ScheduleTimer(function, source, "us-east-1", "123456789012")
    assert timer.run_now() == "done"
    event = function.events[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/Scheduled.Daily"]
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


def test_input_replaces_the_event_and_disabled_schedules_do_not_start() -> None:
    function = _Function()
    properties = {"ScheduleExpression": "cron(0 3 * * ? *)", "Input": '{"job": "x"}', "State": "DISABLED"}
    timer = ScheduleTimer(function, EventSource("Nightly", "ScheduleV2", properties), "us-east-1", "123456789012")
    timer.start()
    assert timer._thread is None
    timer.run_now()
    assert function.events == [{"job": "x"}]
