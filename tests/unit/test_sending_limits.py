"""Sending limits and quota notices on the one send path, with fakes and a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tagmail.adapters.mailgun import MailgunRejected, MailgunUnavailable
from tagmail.adapters.rendering import JinjaRenderer
from tagmail.domain.notices import NoticeKind, notice_template
from tagmail.domain.projects import Project
from tagmail.domain.sending import QUOTA_EXHAUSTED, MessageStatus, SendKind, SendRequest
from tagmail.domain.settings import MailSettings, ProjectSecrets, check_limits
from tagmail.domain.stats import Counter
from tagmail.domain.templates import MailContent, TemplateVersion
from tagmail.domain.usage import month_bounds, month_of, threshold_count, thresholds_crossed
from tagmail.errors import InvalidInput
from tagmail.services.notices import Notifier
from tagmail.services.quota import QuotaNotices, SendingLimits, UsageReports
from tagmail.services.send import PermanentSendFailure, SendOutcome, SendService, TransientSendFailure
from tests.unit.fakes import (
    FakeClock,
    FakeIdempotency,
    FakeMailer,
    FakeMessages,
    FakeProjects,
    FakeSecrets,
    FakeSendQueue,
    FakeStats,
    FakeSuppressions,
    FakeTemplates,
    FakeUsage,
    FakeUsers,
    ready_domain,
)

PROJECT = "p1"
OPS = "ops@shop.example"


class Limited:
    """The send service with sending limits and the quota notifier, all on fakes."""

    def __init__(self, **limits: Any) -> None:
        self.clock = FakeClock(datetime(2026, 12, 10, 9, 10, tzinfo=UTC))
        self.sleeps: list[float] = []
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.templates = FakeTemplates()
        self.messages = FakeMessages()
        self.stats = FakeStats()
        self.mailer = FakeMailer()
        self.usage = FakeUsage()
        self.claims = FakeIdempotency()
        self.queue = FakeSendQueue()
        self.renderer = JinjaRenderer()
        # The sleep a pacer waits with; by default the world moves on meanwhile.
        self.sleep_advances = True
        self.notifier = Notifier(projects=self.projects, claims=self.claims, queue=self.queue, clock=self.clock)
        self.notices = QuotaNotices(projects=self.projects, usage=self.usage, notifier=self.notifier, clock=self.clock)
        self.limits = SendingLimits(
            usage=self.usage, messages=self.messages, clock=self.clock, sleep=self.sleep, notices=self.notices
        )
        self.service = SendService(
            projects=self.projects,
            secrets=self.secrets,
            users=FakeUsers(),
            templates=self.templates,
            suppressions=FakeSuppressions(),
            messages=self.messages,
            stats=self.stats,
            renderer=self.renderer,
            mailer_for=lambda settings, secrets: self.mailer,
            clock=self.clock,
            public_base_url="https://mail.example.com",
            limits=self.limits,
        )
        settings = MailSettings(
            sending_domain="mg.shop.example",
            sender_name="Shop",
            sender_address="news@mg.shop.example",
            notification_address=OPS,
            **limits,
        )
        ready = ready_domain("mg.shop.example", self.clock())
        self.projects.add(Project(PROJECT, "Shop", self.clock(), settings, domain_readiness=ready))
        self.secrets.put(PROJECT, ProjectSecrets("unsub-secret", "key-1", "signing-1"))
        self.templates.add(
            PROJECT, TemplateVersion("sale", 1, self.clock(), {"ja": MailContent("セール", "<p>セール</p>")}, "ja")
        )

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.sleep_advances:
            self.clock.advance(seconds=seconds)

    def request(self, n: int) -> SendRequest:
        # Test sends go to an address, so no user profiles are needed; they count like any send.
        return SendRequest(
            project_id=PROJECT,
            kind=SendKind.TEST,
            template_id="sale",
            occurrence=f"send-{n}",
            campaign_id="sale",
            to=f"buyer{n}@example.jp",
        )

    def send(self, n: int) -> SendOutcome:
        return self.service.send(self.request(n))

    def set(self, **changes: Any) -> None:
        project = self.projects.items[PROJECT]
        self.projects.update(replace(project, settings=replace(project.settings, **changes)))

    def month_count(self, month: str = "2026-12") -> int:
        return self.usage.of(PROJECT, f"m#{month}")

    def queued_notices(self) -> list[str]:
        return [request.template_id.rsplit(":", 1)[1] for request in self.queue.requests]

    def deliver_queued(self) -> None:
        """What the send function does with the notices the notifier queued."""
        for request in self.queue.requests:
            assert self.service.send(request) is SendOutcome.SENT
        self.queue.requests.clear()

    def to_customers(self) -> list[str]:
        return [mail.to for mail in self.mailer.sent if mail.to != OPS]


# -- the monthly limit ---------------------------------------------------------------------------


def test_at_the_monthly_limit_sending_stops_and_the_stopped_send_is_skipped_not_lost() -> None:
    world = Limited(monthly_limit=3)
    assert [world.send(n) for n in range(5)] == [SendOutcome.SENT] * 3 + [SendOutcome.SKIPPED] * 2
    assert len(world.to_customers()) == 3
    assert world.month_count() == 3
    stopped = world.messages.get(PROJECT, world.request(3).send_key)
    assert stopped is not None
    assert (stopped.status, stopped.reason) == (MessageStatus.SKIPPED, QUOTA_EXHAUSTED)
    assert world.stats.total(Counter.SKIPPED) == 2


def test_a_raised_limit_reopens_sending_at_once_and_the_stopped_send_resumes() -> None:
    world = Limited(monthly_limit=2)
    for n in range(3):
        world.send(n)
    assert world.send(2) is SendOutcome.SKIPPED  # the same request again: still no room

    world.set(monthly_limit=4)
    assert world.send(2) is SendOutcome.SENT  # the stopped send resumes
    assert world.send(3) is SendOutcome.SENT
    assert world.send(4) is SendOutcome.SKIPPED
    assert world.to_customers() == [f"buyer{n}@example.jp" for n in range(4)]
    resumed = world.messages.get(PROJECT, world.request(2).send_key)
    assert resumed is not None
    assert resumed.status is MessageStatus.ACCEPTED
    assert world.stats.total(Counter.SKIPPED) == 1  # only buyer4 is still stopped
    assert world.send(2) is SendOutcome.DUPLICATE


def test_a_new_month_in_the_projects_time_zone_resets_the_count_before_utc_does() -> None:
    world = Limited(monthly_limit=2)
    world.clock.now = datetime(2026, 11, 30, 14, 59, tzinfo=UTC)  # 23:59 on 30 November in Tokyo
    assert [world.send(n) for n in range(3)] == [SendOutcome.SENT, SendOutcome.SENT, SendOutcome.SKIPPED]

    world.clock.advance(minutes=1)  # 00:00 on 1 December in Tokyo, still November in UTC
    assert world.send(2) is SendOutcome.SENT
    assert world.send(3) is SendOutcome.SENT
    assert world.send(4) is SendOutcome.SKIPPED
    assert (world.month_count("2026-11"), world.month_count("2026-12")) == (2, 2)


def test_in_utc_the_month_turns_at_utc_midnight() -> None:
    world = Limited(monthly_limit=1, timezone="UTC")
    world.clock.now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert [world.send(0), world.send(1)] == [SendOutcome.SENT, SendOutcome.SKIPPED]
    world.clock.now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert world.send(1) is SendOutcome.SENT


def test_with_overage_allowed_sending_goes_on_past_the_limit() -> None:
    world = Limited(monthly_limit=2, allow_overage=True)
    assert [world.send(n) for n in range(4)] == [SendOutcome.SENT] * 4
    assert world.month_count() == 4
    assert world.queued_notices() == ["quota_90", "quota_100"]


def test_a_send_mailgun_refuses_gives_its_place_back() -> None:
    world = Limited(monthly_limit=2)
    world.mailer.failures.append(MailgunRejected("Forbidden", status=400))
    with pytest.raises(PermanentSendFailure):
        world.send(0)
    assert world.month_count() == 0
    assert [world.send(n) for n in (1, 2)] == [SendOutcome.SENT, SendOutcome.SENT]
    assert world.month_count() == 2


def test_a_send_mailgun_answered_429_gives_its_place_back_and_counts_once_when_retried() -> None:
    world = Limited(monthly_limit=2)
    world.mailer.failures.append(MailgunUnavailable("rate limited", status=429))
    with pytest.raises(TransientSendFailure):
        world.send(0)
    assert world.month_count() == 0
    assert world.send(0) is SendOutcome.SENT
    assert world.month_count() == 1


def test_a_send_without_mailguns_answer_keeps_its_place_for_the_takeover() -> None:
    world = Limited(monthly_limit=2)
    world.mailer.failures.append(MailgunUnavailable("timed out"))  # Mailgun may have taken it
    with pytest.raises(TransientSendFailure):
        world.send(0)
    assert world.month_count() == 1
    world.clock.advance(minutes=2)  # the lease ends; the queue's retry takes the send over
    assert world.send(0) is SendOutcome.SENT
    assert world.month_count() == 1, "the takeover reuses the held place instead of counting again"


def test_a_count_store_outage_fails_the_send_before_mailgun_is_called() -> None:
    world = Limited(monthly_limit=2)
    world.usage.fail_adds = True
    with pytest.raises(Exception, match="store down"):
        world.send(0)
    assert world.mailer.sent == []


# -- the 24-hour and per-second limits -------------------------------------------------------------


def test_the_24_hour_limit_defers_sends_until_the_oldest_hour_leaves_the_window() -> None:
    world = Limited(daily_limit=3)
    assert [world.send(n) for n in range(3)] == [SendOutcome.SENT] * 3  # at 09:10 on 10 December
    with pytest.raises(TransientSendFailure, match="24 hours") as deferral:
        world.send(3)
    assert deferral.value.retry_after == timedelta(minutes=50), "the next hour, when the oldest leaves the window"
    deferred = world.messages.get(PROJECT, world.request(3).send_key)
    assert deferred is not None
    assert (deferred.status, deferred.reason, deferred.quota_hold) == (MessageStatus.SENDING, "released", None)
    assert world.month_count() == 3, "a deferred send holds no place"

    world.clock.now = datetime(2026, 12, 11, 8, 59, tzinfo=UTC)  # the 09:00 hour is still in the window
    with pytest.raises(TransientSendFailure):
        world.send(3)
    world.clock.now = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)  # now it is not
    assert world.send(3) is SendOutcome.SENT
    assert len(world.to_customers()) == 4


def test_the_24_hour_window_spans_midnight_and_months() -> None:
    world = Limited(daily_limit=2)
    world.clock.now = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    world.send(0)
    world.send(1)
    world.clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with pytest.raises(TransientSendFailure):
        world.send(2)


def test_the_per_second_limit_paces_sends_into_the_next_second() -> None:
    world = Limited(per_second_limit=2)
    world.clock.now = datetime(2026, 12, 10, 9, 10, 0, 250_000, tzinfo=UTC)
    assert [world.send(n) for n in range(3)] == [SendOutcome.SENT] * 3
    assert world.sleeps == [pytest.approx(0.75)]
    assert world.clock.now == datetime(2026, 12, 10, 9, 10, 1, tzinfo=UTC)
    assert world.usage.of(PROJECT, "s#1796893800") == 2
    assert world.usage.of(PROJECT, "s#1796893801") == 1


def test_a_send_that_finds_no_place_in_a_second_is_deferred_not_dropped() -> None:
    world = Limited(per_second_limit=1)
    world.sleep_advances = False  # other senders keep every second full
    world.send(0)
    with pytest.raises(TransientSendFailure, match="per second"):
        world.send(1)
    assert len(world.sleeps) == 3
    assert world.to_customers() == ["buyer0@example.jp"]
    assert world.month_count() == 1
    world.clock.advance(seconds=1)
    assert world.send(1) is SendOutcome.SENT


# -- notices ---------------------------------------------------------------------------------------


def test_the_90_and_100_percent_notices_go_to_the_notification_address_once_each() -> None:
    world = Limited(monthly_limit=10)
    outcomes = [world.send(n) for n in range(12)]
    assert outcomes.count(SendOutcome.SENT) == 10
    assert world.queued_notices() == ["quota_90", "quota_100"]
    assert set(world.claims.claims) == {f"quota#{PROJECT}#2026-12#90", f"quota#{PROJECT}#2026-12#100"}

    for _ in range(3):  # the schedule's safety net, run again and again
        assert world.notices.check_all() == 0
    assert len(world.queue.requests) == 2

    world.deliver_queued()
    notices = [mail for mail in world.mailer.sent if mail.to == OPS]
    assert [mail.subject for mail in notices] == [
        "[tagmail] Shop: 今月の送信数が上限の90%に達しました",
        "[tagmail] Shop: 今月の送信数が上限に達しました",
    ]
    assert "10 通" in notices[1].html
    assert "上限の 100%" not in notices[0].html
    assert all("List-Unsubscribe" not in mail.headers for mail in notices), "operational mail has no unsubscribe"
    assert world.month_count() == 10, "notices are not counted against the quota"


def test_notices_are_in_the_projects_language() -> None:
    world = Limited(monthly_limit=1, default_locale="en")
    world.send(0)
    world.deliver_queued()
    subjects = [mail.subject for mail in world.mailer.sent if mail.to == OPS]
    assert subjects == [
        "[tagmail] Shop: 90 % of this month's sending limit used",
        "[tagmail] Shop: this month's sending limit is reached",
    ]


def test_a_notice_claimed_by_another_caller_is_not_queued_again_unless_that_caller_frees_it() -> None:
    world = Limited(monthly_limit=10)
    key = f"quota#{PROJECT}#2026-12#90"
    world.claims.claim(key, world.clock() + timedelta(days=1))  # the schedule, queuing it right now
    for n in range(9):
        world.send(n)
    assert world.queue.requests == []
    assert world.notices.check_all() == 0

    world.claims.release(key)  # ... but its queue call failed
    assert world.notices.check_all() == 1
    assert world.queued_notices() == ["quota_90"]
    assert list(world.usage.notices(PROJECT, "m#2026-12")) == [90]


def test_a_notice_that_could_not_be_queued_frees_its_key_and_the_schedule_sends_it() -> None:
    world = Limited(monthly_limit=2)
    world.queue.fail_next = 1
    assert world.send(0) is SendOutcome.SENT  # 50 %
    assert world.send(1) is SendOutcome.SENT  # 100 % (and 90 %): the queue is down, the send is not
    assert world.queue.requests == []
    assert world.claims.claims == {}
    assert world.claims.released == [f"quota#{PROJECT}#2026-12#90"]

    world.clock.advance(minutes=5)
    assert world.notices.check_all() == 2
    assert world.queued_notices() == ["quota_90", "quota_100"]


def test_no_notification_address_no_notice_until_one_is_set() -> None:
    world = Limited(monthly_limit=2)
    world.set(notification_address=None)
    world.send(0)
    world.send(1)
    assert world.queue.requests == []
    world.set(notification_address=OPS)
    assert world.notices.check_all() == 2


def test_a_new_month_notifies_again() -> None:
    world = Limited(monthly_limit=1)
    world.send(0)
    world.clock.now = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)  # 1 January in Tokyo
    world.send(1)
    assert world.queued_notices() == ["quota_90", "quota_100", "quota_90", "quota_100"]
    assert {request.occurrence.rsplit("#", 2)[1] for request in world.queue.requests} == {"2026-12", "2027-01"}


def test_notices_get_through_a_full_quota_and_every_limit() -> None:
    world = Limited(monthly_limit=1, daily_limit=1, per_second_limit=1)
    world.send(0)
    world.sleep_advances = False
    world.deliver_queued()
    assert [mail.to for mail in world.mailer.sent] == ["buyer0@example.jp", OPS, OPS]


def test_only_operational_sends_may_name_a_built_in_notice() -> None:
    world = Limited()
    request = replace(world.request(0), template_id=NoticeKind.QUOTA_REACHED.template_id)
    with pytest.raises(PermanentSendFailure, match="not found"):
        world.service.send(request)
    assert notice_template("tagmail:notice:nothing") is None
    assert notice_template("sale") is None


# -- the usage report ------------------------------------------------------------------------------


def test_the_usage_report_shows_the_month_the_limits_and_the_notices() -> None:
    world = Limited(monthly_limit=2, daily_limit=100, per_second_limit=5)
    world.send(0)
    world.send(1)
    world.send(2)
    report = UsageReports(projects=world.projects, usage=world.usage, clock=world.clock).usage(PROJECT)
    assert (report.month, report.sent_this_month, report.monthly_limit, report.sending_stopped) == (
        "2026-12",
        2,
        2,
        True,
    )
    assert (report.month_starts_at, report.month_ends_at) == (
        datetime(2026, 11, 30, 15, tzinfo=UTC),
        datetime(2026, 12, 31, 15, tzinfo=UTC),
    )
    assert report.notices == {90: world.clock(), 100: world.clock()}
    assert (report.sent_last_24_hours, report.daily_limit) == (2, 100)
    assert (report.sent_this_second, report.per_second_limit) == (3, 5), "the stopped send took its second"


# -- rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "percent", "reached_at"), [(10, 90, 9), (25, 90, 23), (1, 90, 1), (7, 100, 7)])
def test_a_threshold_is_reached_at_the_first_whole_send_at_or_above_it(
    limit: int, percent: int, reached_at: int
) -> None:
    assert threshold_count(limit, percent) == reached_at


def test_a_batch_crossing_both_thresholds_crosses_both() -> None:
    assert thresholds_crossed(1000, 500, 1500) == (90, 100)
    assert thresholds_crossed(1000, 900, 901) == ()


def test_month_bounds_in_tokyo() -> None:
    assert month_of(datetime(2026, 12, 31, 15, tzinfo=UTC), "Asia/Tokyo") == "2027-01"
    assert month_bounds("2026-12", "Asia/Tokyo") == (
        datetime(2026, 11, 30, 15, tzinfo=UTC),
        datetime(2026, 12, 31, 15, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("monthly_limit", 0), ("daily_limit", -5), ("per_second_limit", 10_001), ("monthly_limit", True)],
)
def test_a_limit_must_be_a_positive_whole_number(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_limits(MailSettings(**{field: value}))
    assert refused.value.field == field


def test_no_limit_is_a_valid_setting() -> None:
    check_limits(MailSettings(monthly_limit=None, daily_limit=None, per_second_limit=None))
