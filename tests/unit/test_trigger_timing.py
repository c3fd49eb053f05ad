"""When a trigger mail is due: delays, "N days later at HH:MM" in the user's (or the project's)
time zone across daylight-saving changes, and quiet hours. Durations are checked as real elapsed
time between the entry (read from a fake clock) and the due moment."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tagmail.domain.triggers import (
    QuietHours,
    Timing,
    TimingKind,
    due_at,
    execution_name,
    wait_timestamp,
)
from tagmail.errors import InvalidInput
from tests.unit.fakes import FakeClock

NEW_YORK = "America/New_York"
TOKYO = "Asia/Tokyo"


def two_days_at_ten() -> Timing:
    return Timing(TimingKind.LOCAL_TIME, days=2, at=time(10, 0))


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def test_two_days_later_at_ten_across_the_spring_daylight_saving_change() -> None:
    # Friday 6 March 2026, 15:00 EST; clocks go forward on Sunday 8 March at 02:00.
    clock = FakeClock(datetime(2026, 3, 6, 20, 0, tzinfo=UTC))

    due = due_at(clock(), two_days_at_ten(), NEW_YORK, TOKYO)

    assert local(due, NEW_YORK).replace(tzinfo=None) == datetime(2026, 3, 8, 10, 0)
    assert due == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # 10:00 EDT, no longer 10:00 EST
    assert due - clock() == timedelta(hours=42)  # one hour less than two days minus five hours


def test_two_days_later_at_ten_across_the_autumn_daylight_saving_change() -> None:
    # Friday 30 October 2026, 15:00 EDT; clocks go back on Sunday 1 November at 02:00.
    clock = FakeClock(datetime(2026, 10, 30, 19, 0, tzinfo=UTC))

    due = due_at(clock(), two_days_at_ten(), NEW_YORK, TOKYO)

    assert local(due, NEW_YORK).replace(tzinfo=None) == datetime(2026, 11, 1, 10, 0)
    assert due == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    assert due - clock() == timedelta(hours=44)


def test_the_days_count_from_the_users_local_date_not_the_utc_date() -> None:
    # 23:30 in New York is already the next day in UTC.
    entry = datetime(2026, 6, 2, 3, 30, tzinfo=UTC)  # Monday 1 June, 23:30 EDT

    due = due_at(entry, two_days_at_ten(), NEW_YORK, TOKYO)

    assert local(due, NEW_YORK).replace(tzinfo=None) == datetime(2026, 6, 3, 10, 0)


def test_a_user_without_a_time_zone_gets_the_projects() -> None:
    entry = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)  # Saturday 7 March, 05:00 in Tokyo

    due = due_at(entry, two_days_at_ten(), None, TOKYO)

    assert local(due, TOKYO).replace(tzinfo=None) == datetime(2026, 3, 9, 10, 0)
    assert due == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("user_tz", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_an_unknown_user_time_zone_falls_back_to_the_projects(user_tz: str) -> None:
    entry = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    assert due_at(entry, two_days_at_ten(), user_tz, TOKYO) == due_at(entry, two_days_at_ten(), None, TOKYO)


def test_without_any_time_zone_local_time_is_utc() -> None:
    entry = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    assert due_at(entry, two_days_at_ten(), None, None) == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)


def test_a_time_skipped_by_the_spring_change_is_sent_just_after_the_gap() -> None:
    entry = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # Saturday 12:00 EST
    timing = Timing(TimingKind.LOCAL_TIME, days=1, at=time(2, 30))  # 02:30 does not exist on 8 March

    due = due_at(entry, timing, NEW_YORK, None)

    assert due == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert local(due, NEW_YORK).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_a_time_repeated_by_the_autumn_change_is_sent_at_its_first_occurrence() -> None:
    entry = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    timing = Timing(TimingKind.LOCAL_TIME, days=1, at=time(1, 30))  # 01:30 happens twice on 1 November

    assert due_at(entry, timing, NEW_YORK, None) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_zero_days_later_at_a_time_already_past_means_the_next_day() -> None:
    entry = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
    timing = Timing(TimingKind.LOCAL_TIME, days=0, at=time(10, 0))

    assert due_at(entry, timing, TOKYO, None) == datetime(2026, 5, 2, 1, 0, tzinfo=UTC)
    earlier = datetime(2026, 4, 30, 23, 0, tzinfo=UTC)  # 08:00 in Tokyo
    assert due_at(earlier, timing, TOKYO, None) == datetime(2026, 5, 1, 1, 0, tzinfo=UTC)


def test_a_delay_is_real_elapsed_time_even_across_a_daylight_saving_change() -> None:
    clock = FakeClock(datetime(2026, 3, 7, 15, 0, tzinfo=UTC))  # 10:00 EST
    timing = Timing(TimingKind.DELAY, delay=timedelta(days=2))

    due = due_at(clock(), timing, NEW_YORK, None)

    assert due - clock() == timedelta(hours=48)
    assert local(due, NEW_YORK).hour == 11  # the wall clock moved; the duration did not


def test_a_delay_of_ninety_days_is_the_longest() -> None:
    entry = datetime(2026, 1, 1, tzinfo=UTC)
    assert due_at(entry, Timing(TimingKind.DELAY, delay=timedelta(days=90)), None, None) == datetime(
        2026, 4, 1, tzinfo=UTC
    )
    with pytest.raises(InvalidInput):
        Timing(TimingKind.DELAY, delay=timedelta(days=90, seconds=1))
    with pytest.raises(InvalidInput):
        Timing(TimingKind.DELAY, delay=timedelta(0))


def test_immediate_is_the_entry_time() -> None:
    entry = datetime(2026, 5, 1, 3, 0, 0, 250_000, tzinfo=UTC)
    assert due_at(entry, Timing(), None, None) == entry


@pytest.mark.parametrize(
    ("local_due", "released"),
    [
        (datetime(2026, 5, 1, 23, 0), datetime(2026, 5, 2, 8, 0)),  # evening: the next morning
        (datetime(2026, 5, 2, 3, 0), datetime(2026, 5, 2, 8, 0)),  # night: the same morning
        (datetime(2026, 5, 2, 21, 0), datetime(2026, 5, 3, 8, 0)),  # the first quiet minute
        (datetime(2026, 5, 2, 8, 0), datetime(2026, 5, 2, 8, 0)),  # the end is not quiet
        (datetime(2026, 5, 2, 12, 0), datetime(2026, 5, 2, 12, 0)),  # daytime: unchanged
    ],
)
def test_quiet_hours_across_midnight_push_a_send_to_their_end(local_due: datetime, released: datetime) -> None:
    tokyo = ZoneInfo(TOKYO)
    entry = local_due.replace(tzinfo=tokyo).astimezone(UTC)
    timing = Timing(quiet_hours=QuietHours(time(21, 0), time(8, 0)))

    due = due_at(entry, timing, TOKYO, None)

    assert due.astimezone(tokyo).replace(tzinfo=None) == released


def test_quiet_hours_within_a_day_and_after_a_delay() -> None:
    timing = Timing(TimingKind.DELAY, delay=timedelta(hours=3), quiet_hours=QuietHours(time(12, 0), time(13, 30)))
    entry = datetime(2026, 5, 1, 9, 15, tzinfo=UTC)  # due 12:15 UTC, inside the lunch break

    assert due_at(entry, timing, None, "UTC") == datetime(2026, 5, 1, 13, 30, tzinfo=UTC)


def test_quiet_hours_are_the_users_local_hours() -> None:
    timing = Timing(quiet_hours=QuietHours(time(21, 0), time(8, 0)))
    entry = datetime(2026, 5, 1, 13, 0, tzinfo=UTC)  # 22:00 in Tokyo, 09:00 in New York

    assert due_at(entry, timing, NEW_YORK, TOKYO) == entry
    assert due_at(entry, timing, None, TOKYO) == datetime(2026, 5, 1, 23, 0, tzinfo=UTC)  # 08:00 JST


def test_wait_timestamps_are_utc_with_z_and_never_early() -> None:
    assert wait_timestamp(datetime(2026, 3, 8, 14, 0, tzinfo=UTC)) == "2026-03-08T14:00:00Z"
    assert wait_timestamp(datetime(2026, 3, 8, 14, 0, 0, 1, tzinfo=UTC)) == "2026-03-08T14:00:01Z"
    assert wait_timestamp(datetime(2026, 3, 8, 10, 0, tzinfo=ZoneInfo(NEW_YORK))) == "2026-03-08T14:00:00Z"


def test_execution_names_are_stable_valid_and_distinct_per_entry() -> None:
    name = execution_name("p1", "c1", "u:42", "m-1")

    assert name == execution_name("p1", "c1", "u:42", "m-1")
    assert len(name) <= 80
    assert name.replace("-", "").isalnum()
    others = {
        execution_name("p1", "c1", "u:42", "m-2"),
        execution_name("p1", "c2", "u:42", "m-1"),
        execution_name("p1", "c1", "u:43", "m-1"),
        execution_name("p2", "c1", "u:42", "m-1"),
    }
    assert name not in others
    assert len(others) == 4


@pytest.mark.parametrize(
    "build",
    [
        lambda: Timing(TimingKind.LOCAL_TIME, days=2),
        lambda: Timing(TimingKind.LOCAL_TIME, days=91, at=time(10)),
        lambda: Timing(TimingKind.IMMEDIATE, delay=timedelta(hours=1)),
        lambda: Timing(TimingKind.DELAY, delay=timedelta(hours=1), at=time(10)),
        lambda: QuietHours(time(8), time(8)),
    ],
    ids=["local-time-without-time", "too-many-days", "immediate-with-delay", "delay-with-time", "empty-quiet-hours"],
)
def test_inconsistent_timings_are_refused(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]
