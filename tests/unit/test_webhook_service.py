"""Mailgun's webhooks on fakes: only signed, fresh, first-seen deliveries for the right project change
anything; events land in the message history, counters, suppressions and consent exactly once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tagmail.domain.projects import Project
from tagmail.domain.sending import MessageRecord, MessageStatus, SendKind
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.stats import Counter
from tagmail.domain.suppressions import SuppressionReason
from tagmail.domain.users import UserProfile
from tagmail.domain.webhooks import sign
from tagmail.errors import DependencyUnavailable, InvalidInput, PayloadTooLarge, Rejected
from tagmail.services.webhooks import WebhookOutcome, WebhookService
from tests.unit.fakes import (
    FakeClock,
    FakeIdempotency,
    FakeMessages,
    FakeProjects,
    FakeSecrets,
    FakeStats,
    FakeSuppressions,
    FakeUsers,
)

PROJECT, OTHER = "p1", "p2"
DOMAIN, OTHER_DOMAIN = "mail.shop.example", "mail.other.example"
SIGNING_KEY, OTHER_KEY = "key-signing-p1", "key-signing-p2"
SEND_KEY = "s" * 40
ADDRESS = "hanako@example.jp"


class Webhooks:
    """The webhook service on fakes, with two projects, one sent mail and its recipient's profile."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.messages = FakeMessages()
        self.suppressions = FakeSuppressions()
        self.stats = FakeStats()
        self.users = FakeUsers()
        self.idempotency = FakeIdempotency()
        self.service = WebhookService(
            projects=self.projects,
            secrets=self.secrets,
            messages=self.messages,
            suppressions=self.suppressions,
            stats=self.stats,
            users=self.users,
            idempotency=self.idempotency,
            clock=self.clock,
            tolerance=timedelta(seconds=900),
        )
        for project_id, domain, key in ((PROJECT, DOMAIN, SIGNING_KEY), (OTHER, OTHER_DOMAIN, OTHER_KEY)):
            settings = MailSettings(sending_domain=domain, sender_address=f"news@{domain}")
            self.projects.add(Project(project_id, project_id, self.clock(), settings))
            self.secrets.put(project_id, ProjectSecrets(unsubscribe_secret="u", webhook_signing_key=key))
        now = self.clock()
        self.messages.reserve(
            MessageRecord(
                project_id=PROJECT,
                send_key=SEND_KEY,
                kind=SendKind.MARKETING,
                status=MessageStatus.ACCEPTED,
                campaign_id="c1",
                variant="A",
                created_at=now,
                updated_at=now,
                recipient=ADDRESS,
                user_key="u:hanako",
            )
        )
        profile = replace(
            UserProfile.new(PROJECT, "u:hanako", now), email=ADDRESS, email_canonical=ADDRESS, subscription=True
        )
        self.users.save(profile, expected=None)

    def body(
        self,
        event: str = "delivered",
        *,
        key: str = SIGNING_KEY,
        timestamp: int | None = None,
        token: str | None = None,
        event_id: str | None = None,
        domain: str | None = DOMAIN,
        variables: Any = None,
        occurred: float | None = None,
        **data: Any,
    ) -> bytes:
        stamp = str(timestamp if timestamp is not None else int(self.clock().timestamp()))
        token = token or secrets.token_hex(25)
        event_data: dict[str, Any] = {
            "event": event,
            "id": event_id or secrets.token_urlsafe(16),
            "timestamp": occurred if occurred is not None else self.clock().timestamp(),
            "recipient": ADDRESS,
            "user-variables": variables
            if variables is not None
            else {"tagmail_project": PROJECT, "tagmail_send": SEND_KEY, "tagmail_campaign": "c1"},
            "message": {"headers": {"from": f"Shop <news@{DOMAIN}>", "to": ADDRESS}},
            **data,
        }
        if domain is not None:
            event_data["domain"] = {"name": domain}
        document = {"signature": {"timestamp": stamp, "token": token, "signature": sign(key, stamp, token)}}
        return json.dumps({**document, "event-data": event_data}).encode()

    def record(self) -> MessageRecord:
        record = self.messages.get(PROJECT, SEND_KEY)
        assert record is not None
        return record

    def counts(self) -> Mapping[Counter, int]:
        return self.stats.counts.get((PROJECT, "c1", "A"), {})

    def nothing_changed(self) -> bool:
        record = self.record()
        return (
            record.status is MessageStatus.ACCEPTED
            and not record.history
            and not self.stats.counts
            and not self.suppressions.items
            and self.users.profile(PROJECT, "u:hanako").subscription is True
        )


@pytest.fixture
def hooks() -> Webhooks:
    return Webhooks()


def test_a_signed_delivered_event_advances_the_message_and_counts_once(hooks: Webhooks) -> None:
    result = hooks.service.record_mailgun_event(hooks.body("delivered"))

    assert (result.project_id, result.outcome) == (PROJECT, WebhookOutcome.RECORDED)
    record = hooks.record()
    assert record.status is MessageStatus.DELIVERED
    assert [c.status for c in record.history] == [MessageStatus.DELIVERED]
    assert hooks.counts() == {Counter.DELIVERED: 1}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"key": "key-forged"}, id="forged signature"),
        pytest.param({"key": OTHER_KEY}, id="another project's key"),
        pytest.param({"timestamp": 1_700_000_000}, id="stale timestamp"),
        pytest.param({"timestamp": 1_900_000_000}, id="timestamp from the future"),
        pytest.param({"domain": "unknown.example"}, id="unknown domain"),
        pytest.param({"variables": {"tagmail_project": OTHER, "tagmail_send": SEND_KEY}}, id="other project"),
    ],
)
def test_an_untrusted_webhook_is_rejected_and_changes_nothing(hooks: Webhooks, change: dict[str, Any]) -> None:
    with pytest.raises(Rejected):
        hooks.service.record_mailgun_event(hooks.body("failed", severity="permanent", **change))
    assert hooks.nothing_changed()
    assert not hooks.idempotency.claims  # a refused token does not even enter the replay cache


def test_a_signature_altered_by_one_character_is_rejected(hooks: Webhooks) -> None:
    document = json.loads(hooks.body("complained"))
    signature = document["signature"]["signature"]
    document["signature"]["signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    with pytest.raises(Rejected):
        hooks.service.record_mailgun_event(json.dumps(document).encode())
    assert hooks.nothing_changed()


def test_a_signed_delivery_cannot_be_moved_to_another_projects_domain(hooks: Webhooks) -> None:
    # Signed with p1's key but naming p2's domain: verified with p2's key, so refused.
    with pytest.raises(Rejected):
        hooks.service.record_mailgun_event(hooks.body("complained", domain=OTHER_DOMAIN, variables={}))
    assert not hooks.suppressions.items


def test_the_domain_falls_back_to_the_envelope_sender_then_the_from_header(hooks: Webhooks) -> None:
    envelope = {"sender": f"bounce+abc@{DOMAIN}"}
    assert hooks.service.record_mailgun_event(hooks.body("delivered", domain=None, envelope=envelope)).project_id
    assert hooks.service.record_mailgun_event(hooks.body("opened", domain=None)).project_id == PROJECT
    assert hooks.record().status is MessageStatus.OPENED


def test_a_replayed_token_is_rejected_and_counted_once(hooks: Webhooks) -> None:
    body = hooks.body("opened")
    hooks.service.record_mailgun_event(body)
    with pytest.raises(Rejected):
        hooks.service.record_mailgun_event(body)
    assert hooks.counts() == {Counter.OPENED: 1, Counter.UNIQUE_OPENED: 1}
    assert len(hooks.record().history) == 1
    token_claim = next(until for key, until in hooks.idempotency.claims.items() if key.startswith("mgtoken#"))
    assert token_claim == hooks.clock() + timedelta(seconds=1800)


def test_the_same_event_id_resent_with_a_new_signature_is_counted_once(hooks: Webhooks) -> None:
    first = hooks.service.record_mailgun_event(hooks.body("clicked", event_id="ev-1"))
    retry = hooks.service.record_mailgun_event(hooks.body("clicked", event_id="ev-1"))

    assert (first.outcome, retry.outcome) == (WebhookOutcome.RECORDED, WebhookOutcome.DUPLICATE)
    assert hooks.counts() == {Counter.CLICKED: 1, Counter.UNIQUE_CLICKED: 1}
    assert hooks.idempotency.claims[f"mgevent#{PROJECT}#ev-1"] == hooks.clock() + timedelta(days=2)


def test_a_late_delivered_never_hides_an_open_and_the_history_keeps_both(hooks: Webhooks) -> None:
    opened_at = hooks.clock().timestamp() + 60
    hooks.service.record_mailgun_event(hooks.body("opened", occurred=opened_at))
    hooks.service.record_mailgun_event(hooks.body("delivered", occurred=opened_at - 30))

    record = hooks.record()
    assert record.status is MessageStatus.OPENED
    assert [(c.status, c.at.timestamp()) for c in record.history] == [
        (MessageStatus.OPENED, opened_at),
        (MessageStatus.DELIVERED, opened_at - 30),
    ]
    assert hooks.counts() == {Counter.OPENED: 1, Counter.UNIQUE_OPENED: 1, Counter.DELIVERED: 1}


def test_two_opens_count_two_opens_and_one_unique_open(hooks: Webhooks) -> None:
    hooks.service.record_mailgun_event(hooks.body("opened"))
    hooks.clock.advance(minutes=5)
    hooks.service.record_mailgun_event(hooks.body("opened"))

    assert hooks.counts() == {Counter.OPENED: 2, Counter.UNIQUE_OPENED: 1}


def test_the_accepted_webhook_changes_nothing_the_send_path_recorded_already(hooks: Webhooks) -> None:
    result = hooks.service.record_mailgun_event(hooks.body("accepted"))
    assert result.outcome is WebhookOutcome.IGNORED
    assert hooks.nothing_changed()


def test_a_permanent_failure_suppresses_the_address_with_its_reason(hooks: Webhooks) -> None:
    extra: dict[str, Any] = {"delivery-status": {"code": 550, "description": "No such user"}}
    hooks.service.record_mailgun_event(hooks.body("failed", severity="permanent", reason="bounce", **extra))

    suppression = hooks.suppressions.get(PROJECT, ADDRESS)
    assert suppression is not None
    assert suppression.reason is SuppressionReason.BOUNCE
    assert suppression.detail == "550 bounce No such user"
    assert hooks.record().status is MessageStatus.FAILED_PERMANENT
    assert hooks.record().history[-1].detail == "550 bounce No such user"
    assert hooks.counts() == {Counter.FAILED_PERMANENT: 1}


def test_a_temporary_failure_never_suppresses(hooks: Webhooks) -> None:
    hooks.service.record_mailgun_event(hooks.body("failed", severity="temporary", reason="greylisted"))

    assert not hooks.suppressions.items
    assert hooks.record().status is MessageStatus.FAILED_TEMPORARY
    assert hooks.counts() == {Counter.FAILED_TEMPORARY: 1}


def test_a_complaint_suppresses_the_address(hooks: Webhooks) -> None:
    hooks.service.record_mailgun_event(hooks.body("complained"))

    suppression = hooks.suppressions.get(PROJECT, ADDRESS)
    assert suppression is not None
    assert suppression.reason is SuppressionReason.COMPLAINT
    assert hooks.counts() == {Counter.COMPLAINED: 1}


def test_an_unsubscribed_webhook_turns_the_users_subscription_off(hooks: Webhooks) -> None:
    hooks.service.record_mailgun_event(hooks.body("unsubscribed"))

    profile = hooks.users.profile(PROJECT, "u:hanako")
    assert profile.subscription is False
    assert profile.subscription_changed_at == hooks.clock()
    assert hooks.counts() == {Counter.UNSUBSCRIBED: 1}
    assert not hooks.suppressions.items  # consent, not a suppression: the user may subscribe again


def test_an_unsubscribe_through_an_anonymous_key_reaches_the_linked_user(hooks: Webhooks) -> None:
    anonymous = replace(UserProfile.new(PROJECT, "a:visitor", hooks.clock()), alias_of="hanako")
    hooks.users.save(anonymous, expected=None)
    hooks.messages.items[(PROJECT, SEND_KEY)] = replace(hooks.record(), user_key="a:visitor")

    hooks.service.record_mailgun_event(hooks.body("unsubscribed"))

    assert hooks.users.profile(PROJECT, "u:hanako").subscription is False


def test_an_event_for_an_unknown_message_still_suppresses_but_counts_nothing(hooks: Webhooks) -> None:
    hooks.service.record_mailgun_event(hooks.body("complained", variables={}))

    assert hooks.suppressions.get(PROJECT, ADDRESS) is not None
    assert not hooks.stats.counts
    assert not hooks.record().history


def test_an_event_type_tagmail_does_not_record_is_acknowledged(hooks: Webhooks) -> None:
    assert hooks.service.record_mailgun_event(hooks.body("stored")).outcome is WebhookOutcome.IGNORED
    assert hooks.nothing_changed()


def test_concurrent_webhooks_of_one_message_retry_the_read_modify_write(hooks: Webhooks) -> None:
    original_save = hooks.messages.save
    raced: list[bool] = []

    def save_after_a_concurrent_open(record: MessageRecord) -> MessageRecord | None:
        if not raced:
            raced.append(True)
            current = hooks.record()
            original_save(current.with_status(MessageStatus.OPENED, hooks.clock()))
        return original_save(record)

    hooks.messages.save = save_after_a_concurrent_open  # type: ignore[method-assign]
    hooks.service.record_mailgun_event(hooks.body("delivered"))

    record = hooks.record()
    assert record.status is MessageStatus.OPENED
    assert [c.status for c in record.history] == [MessageStatus.OPENED, MessageStatus.DELIVERED]


class FailingStats(FakeStats):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def add(self, project_id: str, campaign_id: str, variant: str, counts: Mapping[Counter, int]) -> None:
        if self.failures:
            self.failures -= 1
            raise DependencyUnavailable("stats table down")
        super().add(project_id, campaign_id, variant, counts)


def test_a_failure_after_claiming_releases_the_claims_so_mailguns_retry_succeeds(hooks: Webhooks) -> None:
    hooks.stats = FailingStats()
    hooks.service._stats = hooks.stats
    with pytest.raises(DependencyUnavailable):
        hooks.service.record_mailgun_event(hooks.body("opened", event_id="ev-9"))
    assert not hooks.idempotency.claims
    assert len(hooks.idempotency.released) == 2

    # Mailgun retries with a new signature; the history is not doubled and the counts land once.
    assert hooks.service.record_mailgun_event(hooks.body("opened", event_id="ev-9")).outcome is WebhookOutcome.RECORDED
    assert len(hooks.record().history) == 1
    assert hooks.counts() == {Counter.OPENED: 1, Counter.UNIQUE_OPENED: 1}


def test_a_claim_store_outage_is_a_retryable_failure(hooks: Webhooks) -> None:
    hooks.idempotency.fail_claims = True
    with pytest.raises(DependencyUnavailable):
        hooks.service.record_mailgun_event(hooks.body("delivered"))
    assert hooks.nothing_changed()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not JSON"),
        pytest.param(b"[]", id="not an object"),
        pytest.param(b'{"event-data": {"event": "delivered"}}', id="no signature"),
        pytest.param(b'{"signature": {"timestamp": "1", "token": "t", "signature": "s"}}', id="no event-data"),
        pytest.param(
            b'{"signature": {"timestamp": "soon", "token": "t", "signature": "s"}, "event-data": {}}',
            id="timestamp not digits",
        ),
    ],
)
def test_a_malformed_webhook_is_invalid_input_and_changes_nothing(hooks: Webhooks, body: bytes) -> None:
    with pytest.raises(InvalidInput):
        hooks.service.record_mailgun_event(body)
    assert hooks.nothing_changed()


def test_a_failed_event_without_severity_is_invalid(hooks: Webhooks) -> None:
    with pytest.raises(InvalidInput):
        hooks.service.record_mailgun_event(hooks.body("failed"))
    assert hooks.nothing_changed()


def test_an_oversized_webhook_is_refused_before_it_is_read(hooks: Webhooks) -> None:
    with pytest.raises(PayloadTooLarge):
        hooks.service.record_mailgun_event(hooks.body("delivered", padding="x" * 300_000))
    assert hooks.nothing_changed()
