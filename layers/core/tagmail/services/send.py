"""The one send path: every e-mail, whatever its kind, is checked, deduplicated, rendered and
handed to Mailgun here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tagmail.domain.dns_readiness import closed_reason
from tagmail.domain.email import InvalidEmail, parse_email
from tagmail.domain.mail import Envelope
from tagmail.domain.notices import notice_template
from tagmail.domain.projects import Project
from tagmail.domain.sending import QUOTA_EXHAUSTED, MessageRecord, MessageStatus, SendKind, SendRequest, StatusChange
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.stats import Counter
from tagmail.domain.templates import Footer, pick_locale
from tagmail.domain.unsubscribe import UnsubscribeClaim, make_token
from tagmail.domain.users import UserProfile, user_key
from tagmail.errors import InvalidInput, TagmailError
from tagmail.observability import count, logger
from tagmail.services.ports import (
    Clock,
    Mailer,
    MailerFactory,
    MessageRepository,
    ProjectRepository,
    Renderer,
    SecretStore,
    SendRecheck,
    StatsRepository,
    SuppressionRepository,
    TemplateRepository,
    UserRepository,
)
from tagmail.services.quota import LimitReached, QuotaExhausted, SendingLimits

# Longer than one send function run (30 s), shorter than the queue's visibility timeout (180 s):
# a sender that dies mid-send is taken over by the redelivery, never by a concurrent copy.
LEASE = timedelta(seconds=90)


class PermanentSendFailure(TagmailError):
    """The request can never succeed as it is (bad template, refused by Mailgun, no settings)."""

    code = "send_failed"


class TransientSendFailure(TagmailError):
    """The request may succeed later (Mailgun rate limit or outage, a concurrent sender)."""

    code = "send_deferred"
    # When a retry can succeed, if known (a sending limit's window reopening).
    retry_after: timedelta | None = None


class SendOutcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class _Recipient:
    address: str
    canonical: str
    profile: UserProfile | None


class SendService:
    def __init__(
        self,
        *,
        projects: ProjectRepository,
        secrets: SecretStore,
        users: UserRepository,
        templates: TemplateRepository,
        suppressions: SuppressionRepository,
        messages: MessageRepository,
        stats: StatsRepository,
        renderer: Renderer,
        mailer_for: MailerFactory,
        clock: Clock,
        public_base_url: str,
        recheck: SendRecheck | None = None,
        limits: SendingLimits | None = None,
    ) -> None:
        self._projects = projects
        self._secrets = secrets
        self._users = users
        self._templates = templates
        self._suppressions = suppressions
        self._messages = messages
        self._stats = stats
        self._renderer = renderer
        self._mailer_for = mailer_for
        self._clock = clock
        self._public_base_url = public_base_url
        self._recheck = recheck
        self._limits = limits

    def send(self, request: SendRequest) -> SendOutcome:
        project = self._projects.get(request.project_id)
        if project is None:
            raise PermanentSendFailure(f"project {request.project_id} does not exist")
        recipient, skip_reason = self._recipient(project, request)
        if skip_reason is None and recipient is not None and self._recheck is not None:
            # A trigger mail: no exit event since its entry, its campaign not paused since.
            skip_reason = self._recheck.skip_reason(request, recipient.profile)
        if skip_reason is not None or recipient is None:
            return self._skip(request, recipient, skip_reason or "no recipient")
        # The domain gate (product rule): marketing and test mail wait until the domain's SPF and
        # DKIM have passed for `sending_wait_hours`. It reads the state the domain check keeps on
        # the project, so a send costs no DNS or Mailgun call. A closed domain is a skip, not a
        # retry: the wait (48 h) is far past the queue's retries, and a trigger mail days late is
        # wrong anyway. Operational notices are exempt: they tell the project's own people about
        # problems, a broken DNS record among them, and must go out even then.
        if request.kind is not SendKind.OPERATIONAL:
            settings = project.settings
            not_ready = closed_reason(
                project.domain_readiness, settings.sending_domain, settings.sending_wait_hours, self._clock()
            )
            if not_ready is not None:
                return self._skip(request, recipient, not_ready)

        settings = project.settings
        secrets = self._secrets.get(project.project_id)
        if not settings.ready_to_send or settings.sending_domain is None or settings.sender_address is None:
            raise PermanentSendFailure("the project has no sending domain and sender address")
        if secrets is None or not secrets.mailgun_api_key:
            raise PermanentSendFailure("the project has no Mailgun API key")

        now = self._clock()
        record = _new_record(request, MessageStatus.SENDING, recipient, now, lease_until=now + LEASE)
        envelope = self._compose(project, secrets, request, recipient)  # fails before anything is written
        mailer = self._mailer_for(settings, secrets)
        reserved = self._reserve(record, envelope, mailer)
        if reserved is None:
            return SendOutcome.DUPLICATE
        if self._limits is not None:
            reserved = self._hold(project, reserved)
            if reserved.status is MessageStatus.SKIPPED:
                return SendOutcome.SKIPPED

        try:
            message_id = mailer.send(envelope)
        except TagmailError as error:
            self._fail(reserved, error)
            raise
        self._record_acceptance(reserved, message_id)
        self._stats.add(project.project_id, request.campaign_id, request.variant, {Counter.ACCEPTED: 1})
        count("MailsAccepted")
        return SendOutcome.SENT

    def _hold(self, project: Project, reserved: MessageRecord) -> MessageRecord:
        """Count the send against the sending limits before Mailgun is called. At the monthly limit
        the send is skipped as quota_exhausted (the same request resumes it later); at the 24-hour
        or per-second limit it is released and deferred to the queue's retry."""
        assert self._limits is not None
        try:
            return self._limits.hold(project, reserved)
        except QuotaExhausted:
            stopped = replace(reserved, lease_until=None, reason=QUOTA_EXHAUSTED).with_status(
                MessageStatus.SKIPPED, self._clock()
            )
            if self._messages.save(stopped) is not None:
                self._stats.add(reserved.project_id, reserved.campaign_id, reserved.variant, {Counter.SKIPPED: 1})
            logger().info("send stopped by the monthly limit", project_id=project.project_id)
            return stopped
        except LimitReached as limit:
            self._messages.save(replace(reserved, lease_until=self._clock(), reason="released"))
            deferred = TransientSendFailure(limit.message)
            deferred.retry_after = limit.retry_after
            raise deferred from limit

    def _record_acceptance(self, reserved: MessageRecord, message_id: str) -> None:
        """Store Mailgun's id; a webhook may have written the record meanwhile, so merge into
        whatever is stored now rather than overwrite it."""
        current: MessageRecord | None = reserved
        for _ in range(5):
            if current is None:
                break
            accepted = replace(current, mailgun_id=message_id, lease_until=None).with_status(
                MessageStatus.ACCEPTED, self._clock()
            )
            if self._messages.save(accepted) is not None:
                return
            current = self._messages.get(reserved.project_id, reserved.send_key)
        # The mail is with Mailgun either way; its webhooks keep the record's status current.
        logger().warning("acceptance not recorded", project_id=reserved.project_id, send_key=reserved.send_key)

    def _reserve(self, record: MessageRecord, envelope: Envelope, mailer: Mailer) -> MessageRecord | None:
        """Take the send key, or learn that this mail was already sent. None means: do not send."""
        reserved = self._messages.reserve(record)
        if reserved is not None:
            return reserved
        existing = self._messages.get(record.project_id, record.send_key)
        if existing is not None and existing.status is MessageStatus.SKIPPED and existing.reason == QUOTA_EXHAUSTED:
            return self._resume(existing, record)
        if existing is None or existing.status is not MessageStatus.SENDING:
            return None  # sent, skipped or failed before: the effect already happened once
        if existing.lease_until is not None and existing.lease_until > record.created_at:
            raise TransientSendFailure("another sender holds this send; it will be retried")
        # A sender died holding the lease. If it had reached Mailgun, Mailgun knows the mail.
        if existing.reason != "released":
            found = mailer.find_accepted(envelope, since=existing.created_at - timedelta(minutes=1))
            if found is not None:
                self._messages.save(
                    replace(existing, mailgun_id=found, lease_until=None).with_status(
                        MessageStatus.ACCEPTED, self._clock(), "recovered after an interrupted send"
                    )
                )
                return None
        takeover = self._messages.save(
            replace(existing, lease_until=record.lease_until, reason=None, updated_at=record.created_at)
        )
        if takeover is None:
            raise TransientSendFailure("another sender took this send over; it will be retried")
        return takeover

    def _resume(self, stopped: MessageRecord, record: MessageRecord) -> MessageRecord:
        """Send again what the monthly limit stopped; the limits decide once more whether it goes now."""
        resumed = self._messages.save(
            replace(
                stopped,
                status=MessageStatus.SENDING,
                lease_until=record.lease_until,
                reason=None,
                updated_at=record.created_at,
                history=(*stopped.history, StatusChange(MessageStatus.SENDING, record.created_at, "resumed")),
            )
        )
        if resumed is None:
            raise TransientSendFailure("another sender resumed this send; it will be retried")
        self._stats.add(stopped.project_id, stopped.campaign_id, stopped.variant, {Counter.SKIPPED: -1})
        return resumed

    def _fail(self, record: MessageRecord, error: TagmailError) -> None:
        now = self._clock()
        if _is_transient(error):
            answered = _answered(error)
            # Mailgun answered, so it did not take the mail: the send gives its counted place back.
            # Without an answer it may have taken it: the place stays for whoever takes the send over.
            released = replace(
                record,
                lease_until=now,
                reason="released" if answered else None,
                quota_hold=None if answered else record.quota_hold,
            )
            if self._messages.save(released) is not None and answered:
                self._give_back(record)
            deferral = TransientSendFailure(error.message)
            wait = getattr(error, "retry_after", None)  # Mailgun's 429 says when to try again
            deferral.retry_after = timedelta(seconds=wait) if wait else None
            raise deferral from error
        failed = replace(record, lease_until=None, reason=error.message, quota_hold=None).with_status(
            MessageStatus.FAILED, now
        )
        if self._messages.save(failed) is not None:
            self._give_back(record)
        self._stats.add(record.project_id, record.campaign_id, record.variant, {Counter.FAILED: 1})
        raise PermanentSendFailure(error.message) from error

    def _give_back(self, record: MessageRecord) -> None:
        if self._limits is not None:
            self._limits.give_back(record)

    def _recipient(self, project: Project, request: SendRequest) -> tuple[_Recipient | None, str | None]:
        """Who gets the mail, or why nobody does (the skip reason)."""
        profile = self._profile(project.project_id, request.user_key) if request.user_key else None
        if request.kind is SendKind.OPERATIONAL:
            return _explicit_recipient(request, profile), None
        if not project.settings.enabled:
            return None, "project_disabled"
        if request.kind is SendKind.TEST:
            return _explicit_recipient(request, profile), None
        return self._marketing_recipient(project.project_id, profile)

    def _marketing_recipient(
        self, project_id: str, profile: UserProfile | None
    ) -> tuple[_Recipient | None, str | None]:
        if profile is None or not profile.email or not profile.email_canonical:
            return None, "unknown_user" if profile is None else "no_address"
        recipient = _Recipient(profile.email, profile.email_canonical, profile)
        if profile.subscription is not True:
            return recipient, "unsubscribed"
        suppression = self._suppressions.get(project_id, profile.email_canonical)
        if suppression is not None:
            return recipient, f"suppressed:{suppression.reason.value}"
        return recipient, None

    def _profile(self, project_id: str, key: str) -> UserProfile | None:
        # Strongly consistent: an unsubscribe a moment ago must stop this mail.
        profile = self._users.get(project_id, key, consistent=True)
        if profile is not None and profile.alias_of is not None:
            return self._users.get(project_id, user_key(profile.alias_of), consistent=True)
        return profile

    def _compose(
        self, project: Project, secrets: ProjectSecrets, request: SendRequest, recipient: _Recipient
    ) -> Envelope:
        settings = project.settings
        # Operational notices name a built-in content (tagmail.domain.notices) instead of a saved template.
        builtin = notice_template(request.template_id) if request.kind is SendKind.OPERATIONAL else None
        version = builtin or self._templates.get_version(
            project.project_id, request.template_id, request.template_version
        )
        if version is None:
            raise PermanentSendFailure(f"template {request.template_id} (version {request.template_version}) not found")
        profile = recipient.profile
        reader = request.locale or (profile.locale if profile else None)
        if request.default_locale:  # a campaign's: the reader's locale ("ja-JP", "ja"), else the campaign's
            locale = pick_locale(version.contents, reader, request.default_locale)
            locale = locale if locale in version.contents else version.default_locale
        else:
            locale = version.locale_for(reader or settings.default_locale)
        marketing = request.kind is not SendKind.OPERATIONAL
        unsubscribe_url = self._unsubscribe_url(secrets, project.project_id, request) if marketing else None
        variables = mail_variables(
            settings,
            profile=profile,
            address=recipient.address,
            event=request.event,
            unsubscribe_url=unsubscribe_url,
            extra=request.variables,
        )
        try:
            footer = marketing_footer(settings, unsubscribe_url or "", locale) if marketing else None
            rendered = self._renderer.render(version.contents[locale], variables, footer=footer)
        except InvalidInput as exc:
            raise PermanentSendFailure(f"template {request.template_id} v{version.version}: {exc.message}") from exc
        headers = {}
        if unsubscribe_url:
            # RFC 8058 one-click unsubscribe, required by Gmail and Yahoo for bulk senders.
            headers = {
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return Envelope(
            domain=settings.sending_domain or "",
            sender_name=settings.sender_name,
            sender_address=settings.sender_address or "",
            to=recipient.address,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            reply_to=settings.reply_to,
            headers=headers,
            tags=tuple(tag for tag in (request.campaign_id, f"{request.campaign_id}:{request.variant}") if tag)[:3],
            variables={
                "tagmail_project": project.project_id,
                "tagmail_send": request.send_key,
                "tagmail_campaign": request.campaign_id,
                "tagmail_variant": request.variant,
            },
            track_clicks=not settings.disable_click_tracking,
            track_opens=not settings.disable_open_tracking,
        )

    def _unsubscribe_url(self, secrets: ProjectSecrets, project_id: str, request: SendRequest) -> str:
        # A test send's link unsubscribes nobody: its key names no user.
        key = request.user_key if request.kind is SendKind.MARKETING and request.user_key else "test"
        return unsubscribe_link(self._public_base_url, secrets, UnsubscribeClaim(project_id, key, request.campaign_id))

    def _skip(self, request: SendRequest, recipient: _Recipient | None, reason: str) -> SendOutcome:
        record = _new_record(request, MessageStatus.SKIPPED, recipient, self._clock(), reason=reason)
        # Written only if this send key is new, so a redelivered request counts once.
        if self._messages.reserve(record) is not None:
            self._stats.add(request.project_id, request.campaign_id, request.variant, {Counter.SKIPPED: 1})
            logger().info("send skipped", project_id=request.project_id, reason=reason)
        return SendOutcome.SKIPPED


def _new_record(
    request: SendRequest,
    status: MessageStatus,
    recipient: _Recipient | None,
    now: datetime,
    *,
    lease_until: datetime | None = None,
    reason: str | None = None,
) -> MessageRecord:
    return MessageRecord(
        project_id=request.project_id,
        send_key=request.send_key,
        kind=request.kind,
        status=status,
        campaign_id=request.campaign_id,
        variant=request.variant,
        created_at=now,
        updated_at=now,
        recipient=recipient.canonical if recipient else None,
        user_key=request.user_key,
        template_id=request.template_id,
        lease_until=lease_until,
        reason=reason,
    )


def _explicit_recipient(request: SendRequest, profile: UserProfile | None) -> _Recipient:
    try:
        address = parse_email(request.to or (profile.email if profile and profile.email else ""))
    except InvalidEmail as exc:
        raise PermanentSendFailure(f"the recipient address {exc}") from exc
    return _Recipient(address.given, address.canonical, profile)


def mail_variables(
    settings: MailSettings,
    *,
    profile: UserProfile | None,
    address: str,
    event: Mapping[str, Any] | None,
    unsubscribe_url: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a template sees; previews build it here too, so they render exactly like sends.
    Without a profile (a test send or preview with sample data), `extra["user"]` stands in for it."""
    extra = dict(extra or {})
    sample = extra.get("user") if profile is None else None
    return {
        **extra,
        "user": _user_variables(profile, address, sample if isinstance(sample, Mapping) else None),
        "event": dict(event or {}),
        "unsubscribe_url": unsubscribe_url or "",
        "sender": {"name": settings.sender_name or "", "address": settings.sender_address or ""},
    }


def marketing_footer(settings: MailSettings, unsubscribe_url: str, locale: str) -> Footer:
    """The sender's identity and visible unsubscribe link every marketing mail carries."""
    return Footer(
        unsubscribe_url=unsubscribe_url,
        sender_name=settings.sender_name or settings.sender_address or "",
        sender_address=settings.sender_address or "",
        postal_address=settings.postal_address,
        locale=locale,
    )


def unsubscribe_link(public_base_url: str, secrets: ProjectSecrets, claim: UnsubscribeClaim) -> str:
    return f"{public_base_url}/u/{make_token(secrets.unsubscribe_secret, claim)}"


def _user_variables(
    profile: UserProfile | None, address: str, sample: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if profile is None:
        return {**(sample or {}), "email": address}
    return {
        **profile.attributes,
        "email": profile.email or address,
        "user_id": profile.user_id,
        "locale": profile.locale,
        "timezone": profile.timezone,
    }


def _is_transient(error: TagmailError) -> bool:
    return error.code in ("mailgun_unavailable", "dependency_unavailable")


def _answered(error: TagmailError) -> bool:
    """Mailgun answered (429, 5xx) and so certainly did not take the mail, unlike a timeout."""
    return getattr(error, "status", None) is not None
