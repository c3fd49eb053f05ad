"""Request and response bodies of the admin API, and their explicit mapping to and from the
domain. The rules live in the services; these models only give the payloads their shape."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tagmail.domain.campaigns import Campaign, CampaignStatus, Conversion
from tagmail.domain.dns_readiness import Check, ExpectedRecord, RecordToAdd
from tagmail.domain.sending import MessageRecord
from tagmail.domain.settings import MAX_LIMIT, MAX_PER_SECOND, MailgunRegion, MailSettings
from tagmail.domain.suppressions import Suppression
from tagmail.domain.templates import MailContent, Template, TemplateVersion
from tagmail.domain.triggers import (
    Condition,
    FrequencyCap,
    Operator,
    QuietHours,
    Timing,
    TimingKind,
    TriggerRule,
)
from tagmail.domain.users import UserProfile
from tagmail.errors import InvalidInput
from tagmail.services.campaign_results import CampaignResults
from tagmail.services.campaigns import CampaignDraft, CampaignEdit, VariantDraft
from tagmail.services.domain_readiness import DomainStatus
from tagmail.services.preview import Preview, QueuedTestSend, SampleData
from tagmail.services.quota import Usage
from tagmail.services.settings import DnsRecord, DomainSetup, SettingsChange, SettingsView
from tagmail.services.suppressions import ImportResult

MAX_SOURCE = 512_000
# Secrets go in, never out (GET answers *_set flags instead).
_WRITE_ONLY: dict[str, Any] = {"writeOnly": True}


class _Body(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    success: bool = False
    code: str
    message: str
    field: str | None = None
    line: int | None = Field(None, description="line of a template part or CSV file")
    variable: str | None = Field(None, description="the template variable without a value")
    problems: list[dict[str, Any]] | None = Field(
        None, description="each invalid field of the body, or each bad line of a CSV import (at most 50)"
    )
    problem_count: int | None = Field(None, description="how many bad lines a CSV import had")


# -- settings -------------------------------------------------------------------------------------


class SettingsFields(_Body):
    enabled: bool = Field(True, description="false stops every marketing and test mail of the project")
    sending_domain: str | None = Field(None, max_length=253, description="dedicated sending domain, e.g. mail.shop.jp")
    sender_name: str | None = Field(None, max_length=100)
    sender_address: str | None = Field(None, max_length=254, description="must be an address on sending_domain")
    reply_to: str | None = Field(
        None, max_length=254, description="must be on another domain when sending_domain has MX records"
    )
    disable_click_tracking: bool = False
    disable_open_tracking: bool = False
    sending_wait_hours: int = Field(
        48,
        ge=0,
        le=720,
        description="hours sending waits after the domain's SPF and DKIM records were first seen passing",
    )
    notification_address: str | None = Field(
        None, max_length=254, description="gets one mail at 90 % and one at 100 % of the monthly limit"
    )
    mailgun_region: MailgunRegion = MailgunRegion.US
    mailgun_base_url: str | None = Field(
        None, max_length=500, description="another Mailgun-compatible API base (https; http only for localhost)"
    )
    postal_address: str | None = Field(None, max_length=500, description="the sender's identity shown in every mail")
    default_locale: str = Field("ja", max_length=35)
    timezone: str = Field("Asia/Tokyo", max_length=64, description="IANA time zone")
    monthly_limit: int | None = Field(
        None,
        ge=1,
        le=MAX_LIMIT,
        description="sends (recipients) per calendar month in `timezone`; at 100 % sending stops until next month "
        "or a raised limit, unless allow_overage. null: no limit",
    )
    daily_limit: int | None = Field(
        None, ge=1, le=MAX_LIMIT, description="sends in any 24 hours; over it sends wait. null: no limit"
    )
    per_second_limit: int | None = Field(
        None, ge=1, le=MAX_PER_SECOND, description="sends per second; sends are paced to it. null: no limit"
    )
    allow_overage: bool = Field(False, description="keep sending past the monthly limit (the notices still go)")

    def to_settings(self) -> MailSettings:
        return MailSettings(
            enabled=self.enabled,
            sending_domain=self.sending_domain,
            sender_name=self.sender_name,
            sender_address=self.sender_address,
            reply_to=self.reply_to,
            disable_click_tracking=self.disable_click_tracking,
            disable_open_tracking=self.disable_open_tracking,
            sending_wait_hours=self.sending_wait_hours,
            notification_address=self.notification_address,
            mailgun_region=self.mailgun_region,
            mailgun_base_url=self.mailgun_base_url,
            postal_address=self.postal_address,
            default_locale=self.default_locale,
            timezone=self.timezone,
            monthly_limit=self.monthly_limit,
            daily_limit=self.daily_limit,
            per_second_limit=self.per_second_limit,
            allow_overage=self.allow_overage,
        )


class SettingsIn(SettingsFields):
    """PUT replaces the settings (an omitted field takes its default); an omitted secret is kept,
    an empty one removed."""

    mailgun_api_key: SecretStr | None = Field(
        None, description="Mailgun private API key; stored in the secret store", json_schema_extra=_WRITE_ONLY
    )
    webhook_signing_key: SecretStr | None = Field(
        None, description="Mailgun HTTP webhook signing key; stored in the secret store", json_schema_extra=_WRITE_ONLY
    )

    def to_change(self) -> SettingsChange:
        return SettingsChange(
            settings=self.to_settings(),
            mailgun_api_key=self.mailgun_api_key.get_secret_value() if self.mailgun_api_key is not None else None,
            webhook_signing_key=(
                self.webhook_signing_key.get_secret_value() if self.webhook_signing_key is not None else None
            ),
        )


class DnsRecordOut(BaseModel):
    record_type: str
    name: str
    value: str
    priority: str | None = None
    valid: str | None = None

    @classmethod
    def of(cls, record: DnsRecord) -> DnsRecordOut:
        return cls(
            record_type=record.record_type,
            name=record.name,
            value=record.value,
            priority=record.priority,
            valid=record.valid,
        )


class WebhooksOut(BaseModel):
    url: str
    registered: list[str] = Field(description="types tagmail's URL was added to now")
    present: list[str] = Field(description="types that had it already")
    full: list[str] = Field(description="types with three other URLs at Mailgun: tagmail's URL could not be added")
    problems: list[str]


class MailgunSetupOut(BaseModel):
    domain: str
    created: bool = Field(description="the domain was created at Mailgun by this change")
    state: str | None
    sending_dns_records: list[DnsRecordOut]
    receiving_dns_records: list[DnsRecordOut]
    webhooks: WebhooksOut

    @classmethod
    def of(cls, setup: DomainSetup) -> MailgunSetupOut:
        hooks = setup.webhooks
        return cls(
            domain=setup.domain,
            created=setup.created,
            state=setup.state,
            sending_dns_records=[DnsRecordOut.of(record) for record in setup.sending_dns_records],
            receiving_dns_records=[DnsRecordOut.of(record) for record in setup.receiving_dns_records],
            webhooks=WebhooksOut(
                url=hooks.url,
                registered=list(hooks.registered),
                present=list(hooks.present),
                full=list(hooks.full),
                problems=list(hooks.problems),
            ),
        )


class SettingsOut(SettingsFields):
    model_config = ConfigDict(extra="ignore")

    mailgun_api_key_set: bool
    webhook_signing_key_set: bool
    webhook_url: str = Field(description="where Mailgun posts its webhooks for this deployment")
    mailgun: MailgunSetupOut | None = Field(
        None, description="set when this change set the domain up at Mailgun (domain, key or API base changed)"
    )

    @classmethod
    def of(cls, view: SettingsView) -> SettingsOut:
        s = view.settings
        return cls(
            enabled=s.enabled,
            sending_domain=s.sending_domain,
            sender_name=s.sender_name,
            sender_address=s.sender_address,
            reply_to=s.reply_to,
            disable_click_tracking=s.disable_click_tracking,
            disable_open_tracking=s.disable_open_tracking,
            sending_wait_hours=s.sending_wait_hours,
            notification_address=s.notification_address,
            mailgun_region=s.mailgun_region,
            mailgun_base_url=s.mailgun_base_url,
            postal_address=s.postal_address,
            default_locale=s.default_locale,
            timezone=s.timezone,
            monthly_limit=s.monthly_limit,
            daily_limit=s.daily_limit,
            per_second_limit=s.per_second_limit,
            allow_overage=s.allow_overage,
            mailgun_api_key_set=view.mailgun_api_key_set,
            webhook_signing_key_set=view.webhook_signing_key_set,
            webhook_url=view.webhook_url,
            mailgun=MailgunSetupOut.of(view.mailgun) if view.mailgun else None,
        )


class RecordToAddOut(BaseModel):
    record_type: str
    name: str
    value: str
    priority: str | None = None
    replaces: list[str] = Field(description="values at that name this record takes the place of (remove them)")
    zone_line: str = Field(description="the record as a line of a zone file")

    @classmethod
    def of(cls, record: RecordToAdd) -> RecordToAddOut:
        return cls(
            record_type=record.record_type,
            name=record.name,
            value=record.value,
            priority=record.priority,
            replaces=list(record.replaces),
            zone_line=record.zone_line(),
        )


class CheckOut(BaseModel):
    name: str = Field(description="spf, dkim, mx, dmarc or tracking")
    status: str = Field(description="pass, warn or fail")
    required: bool = Field(description="sending opens only when every required check passes (SPF and DKIM)")
    summary: str
    found: list[str]
    expected: list[str]
    records_to_add: list[RecordToAddOut]
    dns_error: str | None = Field(
        description="the lookup failed: nxdomain, servfail, refused, timeout or unreachable (not a missing record)"
    )
    details: list[str]

    @classmethod
    def of(cls, check: Check) -> CheckOut:
        return cls(
            name=check.name.value,
            status=check.status.value,
            required=check.required,
            summary=check.summary,
            found=list(check.found),
            expected=list(check.expected),
            records_to_add=[RecordToAddOut.of(record) for record in check.records_to_add],
            dns_error=check.dns_error.value if check.dns_error else None,
            details=list(check.details),
        )


class DomainOut(BaseModel):
    """The sending domain's readiness report: the checks, when sending opens, the records to add."""

    domain: str
    state: str | None = Field(description="Mailgun's state of the domain: active, unverified or disabled")
    checked_at: datetime
    sending_open: bool
    sending_opens_at: datetime | None = Field(
        description="when sending opens (or opened): sending_wait_hours after SPF and DKIM were first seen "
        "passing; null while one of them fails"
    )
    closed_reason: str | None = Field(description="domain_not_ready:<what> while sending is closed")
    sending_wait_hours: int
    passing_since: datetime | None = Field(description="since when SPF and DKIM pass without a break")
    checks: list[CheckOut]
    records_to_add: list[RecordToAddOut]
    sending_dns_records: list[DnsRecordOut]
    receiving_dns_records: list[DnsRecordOut]

    @classmethod
    def of(cls, status: DomainStatus) -> DomainOut:
        report = status.report
        return cls(
            domain=report.domain,
            state=report.mailgun_state,
            checked_at=report.checked_at,
            sending_open=status.sending_open,
            sending_opens_at=status.opens_at,
            closed_reason=status.closed_reason,
            sending_wait_hours=status.wait_hours,
            passing_since=status.readiness.passing_since,
            checks=[CheckOut.of(check) for check in report.checks],
            records_to_add=[RecordToAddOut.of(record) for record in report.records_to_add],
            sending_dns_records=[_mailgun_record(record) for record in report.sending_dns_records],
            receiving_dns_records=[_mailgun_record(record) for record in report.receiving_dns_records],
        )


def _mailgun_record(record: ExpectedRecord) -> DnsRecordOut:
    return DnsRecordOut(
        record_type=record.record_type,
        name=record.name,
        value=record.value,
        priority=record.priority,
        valid=record.valid,
    )


# -- templates ------------------------------------------------------------------------------------


class ContentIn(_Body):
    subject: str = Field(max_length=2000, description="Jinja source of the subject")
    html: str = Field(max_length=MAX_SOURCE, description="Jinja source of the HTML part")
    text: str | None = Field(None, max_length=MAX_SOURCE, description="omitted: generated from the HTML")

    def to_content(self) -> MailContent:
        return MailContent(subject=self.subject, html=self.html, text=self.text)


class ContentOut(BaseModel):
    subject: str
    html: str
    text: str | None


class VersionIn(_Body):
    contents: dict[str, ContentIn] = Field(min_length=1, max_length=50, description="one content per locale")
    default_locale: str = Field(description="the locale sent to readers of any other language")
    based_on_version: int | None = Field(
        None, ge=1, description="the version this edit started from: if another was added since, 409"
    )


class TemplateIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    contents: dict[str, ContentIn] = Field(min_length=1, max_length=50, description="one content per locale")
    default_locale: str


class VersionOut(BaseModel):
    version: int
    created_at: datetime
    default_locale: str
    contents: dict[str, ContentOut]

    @classmethod
    def of(cls, version: TemplateVersion) -> VersionOut:
        return cls(
            version=version.version,
            created_at=version.created_at,
            default_locale=version.default_locale,
            contents={
                locale: ContentOut(subject=content.subject, html=content.html, text=content.text)
                for locale, content in version.contents.items()
            },
        )


class TemplateOut(BaseModel):
    id: str
    name: str
    latest_version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, template: Template) -> TemplateOut:
        return cls(
            id=template.id,
            name=template.name,
            latest_version=template.latest_version,
            created_at=template.created_at,
            updated_at=template.updated_at,
        )


class TemplateDetailOut(TemplateOut):
    version: VersionOut

    @classmethod
    def of_pair(cls, template: Template, version: TemplateVersion) -> TemplateDetailOut:
        return cls(**TemplateOut.of(template).model_dump(), version=VersionOut.of(version))


class TemplateListOut(BaseModel):
    items: list[TemplateOut]


class _SampleFields(_Body):
    user_id: str | None = Field(None, max_length=512, description="render for this stored user")
    user: dict[str, Any] | None = Field(None, description="or for these sample user attributes")
    event: dict[str, Any] | None = Field(None, description="the event a trigger mail would carry")

    def sample(self) -> SampleData:
        return SampleData(user_id=self.user_id, user=self.user, event=self.event)


class PreviewIn(_SampleFields):
    content: ContentIn | None = Field(None, description="an unsaved content; or template_id")
    template_id: str | None = Field(None, max_length=64)
    version: int | None = Field(None, ge=1, description="omitted: the latest")
    locale: str | None = Field(None, max_length=35, description="omitted: the user's, else the default locale")


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str
    locale: str
    template_id: str | None
    template_version: int | None

    @classmethod
    def of(cls, preview: Preview) -> PreviewOut:
        return cls(
            subject=preview.subject,
            html=preview.html,
            text=preview.text,
            locale=preview.locale,
            template_id=preview.template_id,
            template_version=preview.template_version,
        )


class TestSendIn(_SampleFields):
    __test__ = False  # a request body, not a pytest class
    to: str = Field(max_length=254, description="the address the test mail goes to")
    template_id: str = Field(max_length=64)
    version: int | None = Field(None, ge=1, description="omitted: the latest")
    locale: str | None = Field(None, max_length=35)


class TestSendOut(BaseModel):
    __test__ = False
    send_key: str = Field(description="GET /admin/v1/messages/{send_key} follows the mail")
    template_id: str
    template_version: int
    status: str = "queued"

    @classmethod
    def of(cls, queued: QueuedTestSend) -> TestSendOut:
        return cls(send_key=queued.send_key, template_id=queued.template_id, template_version=queued.template_version)


# -- suppressions ---------------------------------------------------------------------------------


class SuppressionIn(_Body):
    address: str = Field(max_length=254)
    detail: str | None = Field(None, max_length=500, description="a note, e.g. why it was added")


class SuppressionOut(BaseModel):
    address: str
    reason: str
    created_at: datetime
    detail: str | None

    @classmethod
    def of(cls, item: Suppression) -> SuppressionOut:
        return cls(address=item.address, reason=item.reason.value, created_at=item.created_at, detail=item.detail)


class SuppressionPageOut(BaseModel):
    items: list[SuppressionOut]
    next_after: str | None = Field(description="pass as ?after= for the next page; null at the end")


class ImportOut(BaseModel):
    rows: int
    added: int = Field(description="addresses not suppressed before (existing entries keep their reason)")

    @classmethod
    def of(cls, result: ImportResult) -> ImportOut:
        return cls(rows=result.rows, added=result.added)


# -- reports --------------------------------------------------------------------------------------


class CampaignStatsOut(BaseModel):
    campaign_id: str
    variants: dict[str, dict[str, int]]
    totals: dict[str, int]


class StatusChangeOut(BaseModel):
    status: str
    at: datetime
    detail: str | None


class MessageOut(BaseModel):
    send_key: str
    kind: str
    status: str
    campaign_id: str
    variant: str
    created_at: datetime
    updated_at: datetime
    recipient: str | None
    user_id: str | None
    template_id: str | None
    template_version: int | None
    locale: str | None
    mailgun_id: str | None
    reason: str | None
    history: list[StatusChangeOut]

    @classmethod
    def of(cls, record: MessageRecord) -> MessageOut:
        key = record.user_key
        return cls(
            send_key=record.send_key,
            kind=record.kind.value,
            status=record.status.value,
            campaign_id=record.campaign_id,
            variant=record.variant,
            created_at=record.created_at,
            updated_at=record.updated_at,
            recipient=record.recipient,
            user_id=key[2:] if key and key.startswith("u:") else None,
            template_id=record.template_id,
            template_version=record.template_version,
            locale=record.locale,
            mailgun_id=record.mailgun_id,
            reason=record.reason,
            history=[
                StatusChangeOut(status=change.status.value, at=change.at, detail=change.detail)
                for change in record.history
            ],
        )


class UserOut(BaseModel):
    user_id: str
    email: str | None
    subscription: bool | None
    subscription_changed_at: datetime | None
    locale: str | None
    timezone: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, profile: UserProfile) -> UserOut:
        return cls(
            user_id=profile.user_id,
            email=profile.email,
            subscription=profile.subscription,
            subscription_changed_at=profile.subscription_changed_at,
            locale=profile.locale,
            timezone=profile.timezone,
            attributes=dict(profile.attributes),
            created_at=profile.created_at,
            updated_at=profile.updated_at,
        )


# -- usage ----------------------------------------------------------------------------------------


class NoticeOut(BaseModel):
    threshold: int = Field(description="percent of the monthly limit: 90 or 100")
    sent_at: datetime = Field(description="when the notice to the notification address was queued")


class LimitUseOut(BaseModel):
    used: int
    limit: int | None = Field(description="null: no limit")


class UsageOut(BaseModel):
    month: str = Field(description="the calendar month in the project's time zone, e.g. 2026-12")
    timezone: str
    month_starts_at: datetime
    month_ends_at: datetime = Field(description="when the count starts again from zero")
    sent_this_month: int = Field(description="recipients counted this month, including sends in flight")
    monthly_limit: int | None
    allow_overage: bool
    sending_stopped: bool = Field(description="the monthly limit is reached and overage is not allowed")
    notices: list[NoticeOut]
    last_24_hours: LimitUseOut
    per_second: LimitUseOut = Field(description="use in the current second (counted only while a limit is set)")

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(
            month=usage.month,
            timezone=usage.timezone,
            month_starts_at=usage.month_starts_at,
            month_ends_at=usage.month_ends_at,
            sent_this_month=usage.sent_this_month,
            monthly_limit=usage.monthly_limit,
            allow_overage=usage.allow_overage,
            sending_stopped=usage.sending_stopped,
            notices=[NoticeOut(threshold=percent, sent_at=at) for percent, at in sorted(usage.notices.items())],
            last_24_hours=LimitUseOut(used=usage.sent_last_24_hours, limit=usage.daily_limit),
            per_second=LimitUseOut(used=usage.sent_this_second, limit=usage.per_second_limit),
        )


# -- campaigns ------------------------------------------------------------------------------------

_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_DAY = 86_400
Scalar = str | int | float | bool


class ConditionSpec(_Body):
    field: str = Field(min_length=1, max_length=255, description="property or attribute; dots reach into objects")
    op: Operator
    value: Scalar | list[Scalar] | None = Field(
        default=None, description="a value; a list for `in`; for `exists`, true (must exist, the default) or false"
    )

    def to_condition(self) -> Condition:
        return Condition(field=self.field, operator=self.op, value=self.value)

    @classmethod
    def of(cls, condition: Condition) -> ConditionSpec:
        value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
        return cls(field=condition.field, op=condition.operator, value=value)


class QuietHoursSpec(_Body):
    start: str = Field(pattern=_HHMM, description="local time HH:MM; a start after the end spans midnight")
    end: str = Field(pattern=_HHMM, description="local time HH:MM when sending may go on")


class TimingSpec(_Body):
    kind: TimingKind = Field(default=TimingKind.IMMEDIATE, description="immediate, delay, or local_time")
    delay_seconds: int | None = Field(
        default=None, ge=1, le=90 * _DAY, description="delay: the time after the entry event"
    )
    days: int = Field(default=0, ge=0, le=90, description="local_time: days after the entry's local date")
    at: str | None = Field(default=None, pattern=_HHMM, description="local_time: the user's local time of day, HH:MM")
    quiet_hours: QuietHoursSpec | None = Field(default=None, description="a send due inside them waits for their end")

    def to_timing(self) -> Timing:
        quiet = self.quiet_hours
        return Timing(
            kind=self.kind,
            delay=timedelta(seconds=self.delay_seconds or 0),
            days=self.days,
            at=time.fromisoformat(self.at) if self.at else None,
            quiet_hours=QuietHours(time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)) if quiet else None,
        )

    @classmethod
    def of(cls, timing: Timing) -> TimingSpec:
        quiet = timing.quiet_hours
        return cls(
            kind=timing.kind,
            delay_seconds=int(timing.delay.total_seconds()) or None,
            days=timing.days,
            at=timing.at.strftime("%H:%M") if timing.at else None,
            quiet_hours=(
                QuietHoursSpec(start=quiet.start.strftime("%H:%M"), end=quiet.end.strftime("%H:%M")) if quiet else None
            ),
        )


class FrequencyCapSpec(_Body):
    period_seconds: int | None = Field(
        default=_DAY, ge=1, le=365 * _DAY, description="at most one entry per user per this period; null: no limit"
    )
    project_daily_limit: int | None = Field(
        default=None, ge=1, le=100, description="skip when the user got this many trigger mails of the project that day"
    )


class TriggerSpec(_Body):
    entry_event: str = Field(min_length=1, max_length=255, description="the track event that enters a user")
    event_conditions: list[ConditionSpec] = Field(default_factory=list, max_length=20)
    user_conditions: list[ConditionSpec] = Field(
        default_factory=list, max_length=20, description="on the user's attributes (and locale, timezone)"
    )
    exit_events: list[str] = Field(default_factory=list, max_length=10, description="events that cancel the mail")
    exit_key_property: str | None = Field(
        default=None, max_length=255, description="when set, only an exit event with the entry's value of it cancels"
    )
    timing: TimingSpec = TimingSpec()
    frequency_cap: FrequencyCapSpec = FrequencyCapSpec()

    def to_rule(self) -> TriggerRule:
        cap = self.frequency_cap
        return TriggerRule(
            entry_event=self.entry_event,
            event_conditions=tuple(c.to_condition() for c in self.event_conditions),
            user_conditions=tuple(c.to_condition() for c in self.user_conditions),
            exit_events=tuple(self.exit_events),
            exit_key_property=self.exit_key_property,
            timing=self.timing.to_timing(),
            frequency_cap=FrequencyCap(
                period=timedelta(seconds=cap.period_seconds) if cap.period_seconds is not None else None,
                project_daily_limit=cap.project_daily_limit,
            ),
        )

    @classmethod
    def of(cls, rule: TriggerRule) -> TriggerSpec:
        cap = rule.frequency_cap
        return cls(
            entry_event=rule.entry_event,
            event_conditions=[ConditionSpec.of(c) for c in rule.event_conditions],
            user_conditions=[ConditionSpec.of(c) for c in rule.user_conditions],
            exit_events=list(rule.exit_events),
            exit_key_property=rule.exit_key_property,
            timing=TimingSpec.of(rule.timing),
            frequency_cap=FrequencyCapSpec(
                period_seconds=int(cap.period.total_seconds()) if cap.period else None,
                project_daily_limit=cap.project_daily_limit,
            ),
        )


class ConversionSpec(_Body):
    event: str = Field(default="purchase", min_length=1, max_length=255)
    window_seconds: int = Field(
        default=7 * _DAY, ge=3600, le=90 * _DAY, description="after the send (after entry: holdout)"
    )
    revenue_property: str | None = Field(default="revenue", max_length=255)

    def to_conversion(self) -> Conversion:
        return Conversion(
            event=self.event, window=timedelta(seconds=self.window_seconds), revenue_property=self.revenue_property
        )

    @classmethod
    def of(cls, conversion: Conversion) -> ConversionSpec:
        return cls(
            event=conversion.event,
            window_seconds=int(conversion.window.total_seconds()),
            revenue_property=conversion.revenue_property,
        )


class VariantIn(_Body):
    name: str = Field(min_length=1, max_length=32)
    template_id: str = Field(min_length=1, max_length=64)
    template_version: int | None = Field(
        default=None, ge=1, description="omitted: the latest version, pinned when saved"
    )
    weight: int = Field(
        default=1, ge=1, le=10_000, description="share of the non-holdout users, relative to the others"
    )


class VariantOut(BaseModel):
    name: str
    template_id: str
    template_version: int
    weight: int


class _CampaignFields(_Body):
    holdout: float = Field(default=0.0, ge=0, le=0.5, description="share of users who get nothing and are measured")
    default_locale: str | None = Field(
        default=None, max_length=35, description="for readers of no locale of the template; null: the project's"
    )
    conversion: ConversionSpec = ConversionSpec()
    trigger: TriggerSpec | None = None


class CampaignIn(_CampaignFields):
    name: str = Field(min_length=1, max_length=200)
    variants: list[VariantIn] = Field(default_factory=list, max_length=10)

    def to_draft(self) -> CampaignDraft:
        return CampaignDraft(
            name=self.name,
            variants=tuple(VariantDraft(v.name, v.template_id, v.template_version, v.weight) for v in self.variants),
            holdout=self.holdout,
            default_locale=self.default_locale,
            conversion=self.conversion.to_conversion(),
            trigger=self.trigger.to_rule() if self.trigger else None,
        )


class CampaignPatch(_Body):
    """Each part given replaces the stored one whole; parts not given stay."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    variants: list[VariantIn] | None = Field(default=None, max_length=10)
    holdout: float | None = Field(default=None, ge=0, le=0.5)
    default_locale: str | None = Field(default=None, max_length=35)
    conversion: ConversionSpec | None = None
    trigger: TriggerSpec | None = None
    revision: int | None = Field(default=None, ge=1, description="the revision read; if it changed since, 409")

    def to_edit(self) -> CampaignEdit:
        given = self.model_fields_set - {"revision"}
        for name in ("name", "variants", "holdout", "conversion"):
            if name in given and getattr(self, name) is None:
                raise InvalidInput(f"{name} cannot be null", field=name)
        draft = CampaignIn(
            name=self.name or "-",
            variants=self.variants or [],
            holdout=self.holdout or 0.0,
            default_locale=self.default_locale,
            conversion=self.conversion or ConversionSpec(),
            trigger=self.trigger,
        ).to_draft()
        return CampaignEdit(draft=draft, fields=frozenset(given), revision=self.revision)


class CampaignOut(_CampaignFields):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    status: CampaignStatus
    variants: list[VariantOut]
    revision: int | None = Field(description="pass back in a PATCH to refuse edits over someone else's")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignOut:
        return cls(
            id=campaign.id,
            name=campaign.name,
            status=campaign.status,
            variants=[
                VariantOut(name=v.name, template_id=v.template_id, template_version=v.template_version, weight=v.weight)
                for v in campaign.variants
            ],
            holdout=campaign.holdout,
            default_locale=campaign.default_locale,
            conversion=ConversionSpec.of(campaign.conversion),
            trigger=TriggerSpec.of(campaign.trigger) if campaign.trigger else None,
            revision=campaign.revision,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
        )


class CampaignListOut(BaseModel):
    items: list[CampaignOut]


class CampaignActionOut(CampaignOut):
    stopped: int = Field(default=0, description="pending delayed sends stopped by this pause or archive")


class GroupResultOut(BaseModel):
    group: str = Field(description="a variant's name, or holdout")
    holdout: bool
    entered: int
    scheduled: int = Field(description="sends created, at once or delayed")
    cancelled: int = Field(description="pending sends an exit event (or a pause) cancelled")
    capped: int = Field(description="entries a frequency cap refused")
    sent: int = Field(description="mails Mailgun accepted")
    delivered: int
    unique_opened: int
    unique_clicked: int
    converted: int = Field(description="users who did the conversion event within the window")
    revenue: float = Field(description="the conversions' revenue property, summed")
    conversion_rate: float | None = Field(description="converted / entered")
    revenue_per_entry: float | None
    lift: float | None = Field(description="conversion rate over the holdout's, minus 1 (0.25: 25 % more)")


class CampaignResultsOut(BaseModel):
    campaign_id: str
    status: CampaignStatus
    conversion: ConversionSpec
    groups: list[GroupResultOut]

    @classmethod
    def of(cls, results: CampaignResults) -> CampaignResultsOut:
        return cls(
            campaign_id=results.campaign.id,
            status=results.campaign.status,
            conversion=ConversionSpec.of(results.campaign.conversion),
            groups=[
                GroupResultOut(
                    group=group.group,
                    holdout=group.holdout,
                    entered=group.entered,
                    scheduled=group.scheduled,
                    cancelled=group.cancelled,
                    capped=group.capped,
                    sent=group.sent,
                    delivered=group.delivered,
                    unique_opened=group.unique_opened,
                    unique_clicked=group.unique_clicked,
                    converted=group.converted,
                    revenue=group.revenue,
                    conversion_rate=group.conversion_rate,
                    revenue_per_entry=group.revenue_per_entry,
                    lift=results.lift(group),
                )
                for group in results.groups
            ],
        )
