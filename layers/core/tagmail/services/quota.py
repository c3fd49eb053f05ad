"""Sending limits and the quota notifier.

Every send that reaches Mailgun is counted per recipient, before Mailgun is called: in the calendar
month of the project's time zone, in the current UTC hour (the rolling 24 hours are the last 24
hourly buckets), and, when a per-second limit is set, in the current second. Each count is one
conditional ADD, so concurrent senders together never pass a limit: a send that does not fit is
refused there and then. The monthly count is therefore never more than the limit, and the sends
Mailgun accepted never more than the count.

The place a send takes (a QuotaHold) is written on its message record. A send that Mailgun did not
take (refused, or answered 429/5xx) gives it back; a send interrupted after counting keeps it, and
whoever takes the send over reuses it instead of counting again. Only a process dying between the
ADD and the record write leaks a count, and then towards fewer sends, never more; month and hour
counts end with their period, so nothing leaks past it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tagmail.domain.notices import NoticeKind
from tagmail.domain.projects import Project
from tagmail.domain.sending import MessageRecord, SendKind
from tagmail.domain.settings import MailSettings
from tagmail.domain.usage import (
    QuotaHold,
    hour_of,
    hour_period,
    month_bounds,
    month_of,
    month_period,
    second_period,
    thresholds_crossed,
    thresholds_reached,
    window_before,
    window_reopens,
)
from tagmail.errors import NotFound, TagmailError
from tagmail.observability import count, logger
from tagmail.services.notices import Notifier
from tagmail.services.ports import Clock, MessageRepository, ProjectDirectory, ProjectRepository, UsageStore

MONTH_RETENTION = timedelta(days=400)
HOUR_RETENTION = timedelta(days=2)
SECOND_RETENTION = timedelta(hours=1)
# Tries for a place in a second before the send is deferred (each waits for the next second).
PACING_ATTEMPTS = 3
_NOTICE_KINDS = {90: NoticeKind.QUOTA_NEARLY_REACHED, 100: NoticeKind.QUOTA_REACHED}


class QuotaExhausted(TagmailError):
    """The month's sends reached the monthly limit and overage is not allowed."""

    code = "quota_exhausted"


class LimitReached(TagmailError):
    """The 24-hour or per-second limit is reached: the send may go once `retry_after` has passed."""

    code = "limit_reached"

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def notice_key(project_id: str, month: str, percent: int) -> str:
    return f"quota#{project_id}#{month}#{percent}"


class QuotaNotices:
    """The 90 % and 100 % notices of the month: one each per (project, month, threshold)."""

    def __init__(self, *, projects: ProjectDirectory, usage: UsageStore, notifier: Notifier, clock: Clock) -> None:
        self._projects = projects
        self._usage = usage
        self._notifier = notifier
        self._clock = clock

    def check(self, project: Project) -> tuple[int, ...]:
        """Queue the notices of the thresholds the month's sends reached; the percentages queued now."""
        settings = project.settings
        limit = settings.monthly_limit
        if limit is None or not settings.notification_address:
            return ()
        now = self._clock()
        month = month_of(now, settings.timezone)
        period = month_period(month)
        sent = self._usage.sent(project.project_id, period, period).get(period, 0)
        noted = self._usage.notices(project.project_id, period)
        queued = []
        for percent in thresholds_reached(limit, sent):
            if percent in noted:
                continue
            variables = {
                "month": month,
                "percent": percent,
                "sent": sent,
                "limit": limit,
                "allow_overage": settings.allow_overage,
            }
            key = notice_key(project.project_id, month, percent)
            # A key claimed by another caller is not noted here: should that caller fail to queue
            # the notice, it frees the key, and the next check must still find the notice missing.
            if self._notifier.notify(project.project_id, _NOTICE_KINDS[percent], variables, key):
                self._usage.mark_notice(project.project_id, period, percent, now)
                queued.append(percent)
        return tuple(queued)

    def check_all(self) -> int:
        """The schedule's safety net: every project with a limit and a notification address. A
        project that fails is logged and left for the next run; the others are still checked."""
        queued = 0
        for project in self._projects.all():
            try:
                queued += len(self.check(project))
            except TagmailError as error:
                logger().warning("quota check failed", project_id=project.project_id, error=error.code)
        return queued


class SendingLimits:
    """What the send path asks before and after calling Mailgun."""

    def __init__(
        self,
        *,
        usage: UsageStore,
        messages: MessageRepository,
        clock: Clock,
        sleep: Callable[[float], None],
        notices: QuotaNotices | None = None,
    ) -> None:
        self._usage = usage
        self._messages = messages
        self._clock = clock
        self._sleep = sleep
        self._notices = notices

    def hold(self, project: Project, record: MessageRecord, recipients: int = 1) -> MessageRecord:
        """Count the send's recipients before Mailgun is called; the record carrying its hold.
        QuotaExhausted at the monthly limit, LimitReached at the 24-hour or per-second limit."""
        if record.kind is SendKind.OPERATIONAL or record.quota_hold is not None:
            # Notices to the project's own people must get through a full quota (the 100 % one
            # always meets one), and a send taken over after a crash already holds its place.
            return record
        settings = project.settings
        project_id = project.project_id
        self._pace(project_id, settings.per_second_limit, recipients)
        now = self._clock()
        hold = QuotaHold(month_of(now, settings.timezone), hour_of(now), recipients)
        limit = settings.monthly_limit
        month_total = self._usage.add(
            project_id,
            month_period(hold.month),
            recipients,
            at_most=None if limit is None or settings.allow_overage else limit,
            expires_at=now + MONTH_RETENTION,
        )
        if month_total is None:
            count("SendsStoppedByQuota")
            raise QuotaExhausted(f"the monthly limit of {limit} sends is reached for {hold.month}")
        try:
            self._count_hour(project_id, settings, hold, now)
        except TagmailError:
            self._usage.subtract(project_id, month_period(hold.month), recipients)
            raise
        # Should this write fail, the counts stay: in doubt a send is counted, never left uncounted.
        held = self._messages.save(replace(record, quota_hold=hold))
        if held is None:
            self.give_back(replace(record, quota_hold=hold))
            raise LimitReached("another sender took this send over", retry_after=timedelta(seconds=1))
        if limit is not None and thresholds_crossed(limit, month_total - recipients, month_total):
            self._notify(project)
        return held

    def give_back(self, record: MessageRecord) -> None:
        """Return the place a send held; call after its record was saved without the hold."""
        hold = record.quota_hold
        if hold is None:
            return
        self._usage.subtract(record.project_id, month_period(hold.month), hold.recipients)
        self._usage.subtract(record.project_id, hour_period(hold.hour), hold.recipients)

    def _count_hour(self, project_id: str, settings: MailSettings, hold: QuotaHold, now: datetime) -> None:
        at_most = None
        if settings.daily_limit is not None:
            # The hours before this one no longer grow (a give-back only shrinks them), so the one
            # conditional ADD on this hour keeps the 24 hours within the limit.
            first, last = window_before(now)
            earlier = sum(self._usage.sent(project_id, hour_period(first), hour_period(last)).values())
            at_most = settings.daily_limit - earlier
        total = self._usage.add(
            project_id, hour_period(hold.hour), hold.recipients, at_most=at_most, expires_at=now + HOUR_RETENTION
        )
        if total is None:
            count("SendsDeferredByDailyLimit")
            raise LimitReached(
                f"the limit of {settings.daily_limit} sends in 24 hours is reached",
                retry_after=window_reopens(now) - now,
            )

    def _pace(self, project_id: str, per_second: int | None, recipients: int) -> None:
        """Take a place in the current second, waiting for the next one at most a few times."""
        if per_second is None:
            return
        # A batch larger than the limit waits for a second of its own rather than forever.
        places = min(recipients, per_second)
        for _ in range(PACING_ATTEMPTS):
            now = self._clock()
            taken = self._usage.add(
                project_id, second_period(now), places, at_most=per_second, expires_at=now + SECOND_RETENTION
            )
            if taken is not None:
                return
            self._sleep(max(0.0, 1 - now.timestamp() % 1))
        count("SendsDeferredByRate")
        raise LimitReached(f"the limit of {per_second} sends per second is reached", retry_after=timedelta(seconds=1))

    def _notify(self, project: Project) -> None:
        """A threshold was crossed just now: queue its notice at once (the schedule is the safety net)."""
        if self._notices is None:
            return
        try:
            self._notices.check(project)
        except TagmailError as error:
            logger().warning(
                "quota notice not queued; the schedule retries", project_id=project.project_id, error=error.code
            )


@dataclass(frozen=True)
class Usage:
    """A project's sending counts against its limits, as the admin API shows them."""

    month: str
    timezone: str
    month_starts_at: datetime
    month_ends_at: datetime
    sent_this_month: int
    monthly_limit: int | None
    allow_overage: bool
    sending_stopped: bool
    notices: dict[int, datetime]
    sent_last_24_hours: int
    daily_limit: int | None
    sent_this_second: int
    per_second_limit: int | None


class UsageReports:
    def __init__(self, *, projects: ProjectRepository, usage: UsageStore, clock: Clock) -> None:
        self._projects = projects
        self._usage = usage
        self._clock = clock

    def usage(self, project_id: str) -> Usage:
        project = self._projects.get(project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        settings = project.settings
        now = self._clock()
        month = month_of(now, settings.timezone)
        starts, ends = month_bounds(month, settings.timezone)
        period = month_period(month)
        first, _ = window_before(now)
        hours = self._usage.sent(project_id, hour_period(first), hour_period(hour_of(now)))
        second = second_period(now)
        sent = self._usage.sent(project_id, period, period).get(period, 0)
        limit = settings.monthly_limit
        return Usage(
            month=month,
            timezone=settings.timezone,
            month_starts_at=starts,
            month_ends_at=ends,
            sent_this_month=sent,
            monthly_limit=limit,
            allow_overage=settings.allow_overage,
            sending_stopped=limit is not None and not settings.allow_overage and sent >= limit,
            notices=self._usage.notices(project_id, period),
            sent_last_24_hours=sum(hours.values()),
            daily_limit=settings.daily_limit,
            sent_this_second=self._usage.sent(project_id, second, second).get(second, 0),
            per_second_limit=settings.per_second_limit,
        )
