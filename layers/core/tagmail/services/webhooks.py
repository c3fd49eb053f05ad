"""Recording what Mailgun reports about sent mail: status history, counters, suppressions, consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from tagmail.domain.email import InvalidEmail, parse_email
from tagmail.domain.sending import MessageRecord, MessageStatus, StatusChange
from tagmail.domain.suppressions import Suppression
from tagmail.domain.webhooks import EVENT_ID_RETENTION, MailgunEvent, counters_for, parse_webhook, verify_signature
from tagmail.errors import Conflict, Rejected, TagmailError
from tagmail.observability import count, logger
from tagmail.services.ports import (
    Clock,
    IdempotencyStore,
    MessageRepository,
    ProjectRepository,
    SecretStore,
    StatsRepository,
    SuppressionRepository,
    UserRepository,
)
from tagmail.services.profiles import ProfileUpdater

# Webhooks of one message (delivered, opened, clicked) often arrive together; each re-reads and retries.
MAX_RECORD_ATTEMPTS = 5


class WebhookOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # this event was recorded before (Mailgun retried it)
    IGNORED = "ignored"  # an event type tagmail does not record


@dataclass(frozen=True)
class WebhookResult:
    project_id: str
    event: str
    outcome: WebhookOutcome


class WebhookService:
    def __init__(
        self,
        *,
        projects: ProjectRepository,
        secrets: SecretStore,
        messages: MessageRepository,
        suppressions: SuppressionRepository,
        stats: StatsRepository,
        users: UserRepository,
        idempotency: IdempotencyStore,
        clock: Clock,
        tolerance: timedelta,
    ) -> None:
        self._projects = projects
        self._secrets = secrets
        self._messages = messages
        self._suppressions = suppressions
        self._stats = stats
        self._profiles = ProfileUpdater(users, clock)
        self._idempotency = idempotency
        self._clock = clock
        self._tolerance = tolerance

    def record_mailgun_event(self, body: bytes) -> WebhookResult:
        """Verify one webhook delivery and apply its event once; Rejected when it must not be retried."""
        event = parse_webhook(body)
        try:
            project_id = self._authenticate(event)
        except Rejected as refusal:
            logger().warning("mailgun webhook rejected", reason=refusal.message, event=event.event)
            count("WebhooksRejected")
            raise
        outcome = self._apply_once(project_id, event)
        logger().info("mailgun webhook", project_id=project_id, event=event.event, outcome=outcome.value)
        count("WebhookEventsRecorded" if outcome is WebhookOutcome.RECORDED else "WebhookEventsSkipped")
        return WebhookResult(project_id=project_id, event=event.event, outcome=outcome)

    def _authenticate(self, event: MailgunEvent) -> str:
        """The project the event belongs to, once its signature proves Mailgun sent it for that project."""
        project_id = self._projects.project_for_domain(event.domain) if event.domain else None
        if project_id is None:
            raise Rejected("the webhook names no sending domain of any project")
        secrets = self._secrets.get(project_id)
        if secrets is None or not secrets.webhook_signing_key:
            raise Rejected("the project has no webhook signing key")
        verify_signature(secrets.webhook_signing_key, event.signature, self._clock(), self._tolerance)
        # The signature covers only timestamp and token: the variables must agree with the domain.
        if event.project_id is not None and event.project_id != project_id:
            raise Rejected("the webhook's project does not own its sending domain")
        # Tokens are the replay cache: a signed delivery is good once (kept while its timestamp is).
        if not self._idempotency.claim(f"mgtoken#{event.signature.token}", self._clock() + 2 * self._tolerance):
            raise Rejected("the webhook token was used before")
        return project_id

    def _apply_once(self, project_id: str, event: MailgunEvent) -> WebhookOutcome:
        token_key = f"mgtoken#{event.signature.token}"
        event_key = f"mgevent#{project_id}#{event.event_id}"
        claimed: list[str] = [token_key]
        try:
            if not self._idempotency.claim(event_key, self._clock() + EVENT_ID_RETENTION):
                return WebhookOutcome.DUPLICATE
            claimed.append(event_key)
            return self._apply(project_id, event)
        except Exception:
            # Nothing is kept of a failed attempt, so Mailgun's retry of this event can succeed.
            for key in reversed(claimed):
                self._release(key)
            raise

    def _apply(self, project_id: str, event: MailgunEvent) -> WebhookOutcome:
        status = event.status
        if status is None or status is MessageStatus.ACCEPTED:
            # The send path records the acceptance (with Mailgun's id) when Mailgun answers; a second
            # ACCEPTED from the webhook would add nothing, and racing that write could lose the id.
            return WebhookOutcome.IGNORED
        change = StatusChange(status, event.occurred_at, event.detail)
        record = self._record(project_id, event.send_key, change) if event.send_key else None
        # Idempotent effects first and the counters last: a failure part-way is retried without
        # counting twice.
        reason = event.suppression_reason
        address = _address(event, record)
        if reason is not None and address is not None:
            self._suppressions.add(
                Suppression(project_id, address, reason, created_at=self._clock(), detail=event.detail)
            )
        if status is MessageStatus.UNSUBSCRIBED:
            self._unsubscribe(project_id, record, event)
        if record is not None:
            first = next((c for c in record.history if c.status is status), None) == change
            counts = counters_for(status, first_of_its_kind=first)
            if counts:
                self._stats.add(project_id, record.campaign_id, record.variant, counts)
        return WebhookOutcome.RECORDED

    def _record(self, project_id: str, send_key: str, change: StatusChange) -> MessageRecord | None:
        """Add the event to the message's history (the status never moves back); None: no such message."""
        for _ in range(MAX_RECORD_ATTEMPTS):
            record = self._messages.get(project_id, send_key)
            if record is None or change in record.history:
                return record  # unknown, or recorded by an attempt that failed later on
            saved = self._messages.save(record.with_status(change.status, change.at, change.detail))
            if saved is not None:
                return saved
        raise Conflict("the message record is being changed by too many webhooks at once; retry")

    def _unsubscribe(self, project_id: str, record: MessageRecord | None, event: MailgunEvent) -> None:
        key = record.user_key if record is not None else None
        if key is None or not key.startswith(("u:", "a:")):
            return  # a test send or mail sent outside tagmail: no profile to change
        key = self._profiles.resolve(project_id, key)
        self._profiles.set_subscription(project_id, key, subscribed=False, at=event.occurred_at)

    def _release(self, key: str) -> None:
        try:
            self._idempotency.release(key)
        except TagmailError as error:
            # The claim expires on its own; until then Mailgun's retries of this event are dropped.
            logger().error("could not release a webhook claim", reason=error.message)


def _address(event: MailgunEvent, record: MessageRecord | None) -> str | None:
    try:
        return parse_email(event.recipient or "").canonical
    except InvalidEmail:
        return record.recipient if record is not None else None
