"""The one send path on fakes: eligibility, dedupe, rendering inputs, Mailgun outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tagmail.adapters.mailgun import MailgunRejected, MailgunUnavailable
from tagmail.domain.projects import Project
from tagmail.domain.sending import MessageStatus, SendKind, SendRequest
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.stats import Counter
from tagmail.domain.suppressions import Suppression, SuppressionReason
from tagmail.domain.templates import Footer, MailContent, RenderedMail, TemplateVersion
from tagmail.domain.unsubscribe import read_token
from tagmail.domain.users import UserProfile
from tagmail.errors import InvalidInput
from tagmail.services.send import PermanentSendFailure, SendOutcome, SendService, TransientSendFailure
from tests.unit.fakes import (
    FakeClock,
    FakeMailer,
    FakeMessages,
    FakeProjects,
    FakeSecrets,
    FakeStats,
    FakeSuppressions,
    FakeTemplates,
    FakeUsers,
    ready_domain,
)

PROJECT = "p1"


class EchoRenderer:
    """Renders `{name}` placeholders from the user's variables; appends the footer's link."""

    def __init__(self) -> None:
        self.footers: list[Footer | None] = []

    def render(self, content: MailContent, variables: Mapping[str, Any], *, footer: Footer | None) -> RenderedMail:
        self.footers.append(footer)
        if "{missing}" in content.html:
            raise InvalidInput("user.missing is undefined", field="html")
        user = {"first_name": "", **variables["user"]}
        html = content.html.format(**user)
        if footer is not None:
            html += f'<a href="{footer.unsubscribe_url}">unsubscribe</a>'
        return RenderedMail(subject=content.subject.format(**user), html=html, text=html)


class Send:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.users = FakeUsers()
        self.templates = FakeTemplates()
        self.suppressions = FakeSuppressions()
        self.messages = FakeMessages()
        self.stats = FakeStats()
        self.renderer = EchoRenderer()
        self.mailer = FakeMailer()
        self.service = self.build_service()
        settings = MailSettings(
            sending_domain="mg.shop.example",
            sender_name="Shop",
            sender_address="news@mg.shop.example",
            reply_to="support@shop.example",
            disable_open_tracking=True,
        )
        ready = ready_domain("mg.shop.example", self.clock())
        self.projects.add(Project(PROJECT, "shop", self.clock(), settings, domain_readiness=ready))
        self.secrets.put(PROJECT, ProjectSecrets("unsub-secret", "key-1", "signing-1"))
        self.templates.add(
            PROJECT,
            TemplateVersion(
                "welcome",
                1,
                self.clock(),
                {
                    "ja": MailContent("ようこそ {first_name}", "<p>{first_name}様</p>"),
                    "en": MailContent("Hi", "<p>Hi</p>"),
                },
                "ja",
            ),
        )

    def build_service(self, **extra: Any) -> SendService:
        """The send service on this world's fakes; `extra` adds optional collaborators."""
        return SendService(
            projects=self.projects,
            secrets=self.secrets,
            users=self.users,
            templates=self.templates,
            suppressions=self.suppressions,
            messages=self.messages,
            stats=self.stats,
            renderer=self.renderer,
            mailer_for=lambda settings, secrets: self.mailer,
            clock=self.clock,
            public_base_url="https://mail.example.com",
            **extra,
        )

    def user(self, user_id: str = "u1", **fields: Any) -> UserProfile:
        profile = UserProfile.new(PROJECT, f"u:{user_id}", self.clock())
        defaults: dict[str, Any] = {
            "email": "Hanako@Example.jp",
            "email_canonical": "hanako@example.jp",
            "subscription": True,
            "attributes": {"first_name": "花子"},
        }
        profile = replace(profile, **{**defaults, **fields})
        assert self.users.save(profile, None)
        return profile

    def request(self, **fields: Any) -> SendRequest:
        defaults: dict[str, Any] = {
            "project_id": PROJECT,
            "kind": SendKind.MARKETING,
            "template_id": "welcome",
            "occurrence": "evt-1",
            "campaign_id": "cart",
            "variant": "A",
            "user_key": "u:u1",
        }
        return SendRequest(**{**defaults, **fields})


@pytest.fixture
def world() -> Send:
    return Send()


def test_a_subscribed_user_gets_the_personalised_mail_with_our_ids(world: Send) -> None:
    world.user()
    assert world.service.send(world.request()) is SendOutcome.SENT
    [mail] = world.mailer.sent
    assert (mail.to, mail.subject, mail.html.startswith("<p>花子様</p>")) == (
        "Hanako@Example.jp",
        "ようこそ 花子",
        True,
    )
    assert (mail.sender_name, mail.sender_address, mail.reply_to) == (
        "Shop",
        "news@mg.shop.example",
        "support@shop.example",
    )
    assert (mail.track_clicks, mail.track_opens) == (True, False)
    assert mail.variables["tagmail_project"] == PROJECT
    assert mail.variables["tagmail_campaign"] == "cart"
    record = world.messages.get(PROJECT, world.request().send_key)
    assert record is not None
    assert record.status is MessageStatus.ACCEPTED
    assert record.mailgun_id == "<1@mg.shop.example>"
    assert world.stats.counts[(PROJECT, "cart", "A")] == {Counter.ACCEPTED: 1}


def test_marketing_mail_carries_one_click_unsubscribe_for_this_user(world: Send) -> None:
    world.user()
    world.service.send(world.request())
    [mail] = world.mailer.sent
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = mail.headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://mail.example.com/u/")
    claim = read_token(url.rsplit("/", 1)[1], lambda project: "unsub-secret")
    assert (claim.project_id, claim.user_key, claim.campaign_id) == (PROJECT, "u:u1", "cart")
    [footer] = world.renderer.footers
    assert footer is not None
    assert footer.sender_address == "news@mg.shop.example"


def test_the_same_request_twice_sends_once(world: Send) -> None:
    world.user()
    assert world.service.send(world.request()) is SendOutcome.SENT
    assert world.service.send(world.request()) is SendOutcome.DUPLICATE
    assert len(world.mailer.sent) == 1
    assert world.stats.total(Counter.ACCEPTED) == 1


def test_another_occurrence_is_another_mail(world: Send) -> None:
    world.user()
    world.service.send(world.request())
    world.service.send(world.request(occurrence="evt-2"))
    assert len(world.mailer.sent) == 2


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        ({"subscription": False}, "unsubscribed"),
        ({"subscription": None}, "unsubscribed"),
        ({"email": None, "email_canonical": None}, "no_address"),
    ],
)
def test_ineligible_users_are_skipped_and_counted_once(world: Send, profile: dict[str, Any], reason: str) -> None:
    world.user(**profile)
    assert world.service.send(world.request()) is SendOutcome.SKIPPED
    assert world.service.send(world.request()) is SendOutcome.SKIPPED
    assert world.mailer.sent == []
    record = world.messages.get(PROJECT, world.request().send_key)
    assert record is not None
    assert (record.status, record.reason) == (MessageStatus.SKIPPED, reason)
    assert world.stats.total(Counter.SKIPPED) == 1


def test_a_suppressed_address_is_never_mailed(world: Send) -> None:
    world.user()
    world.suppressions.add(Suppression(PROJECT, "hanako@example.jp", SuppressionReason.BOUNCE, world.clock()))
    assert world.service.send(world.request()) is SendOutcome.SKIPPED
    assert world.mailer.sent == []
    record = world.messages.get(PROJECT, world.request().send_key)
    assert record is not None
    assert record.reason == "suppressed:bounce"


def test_an_unknown_user_is_skipped(world: Send) -> None:
    assert world.service.send(world.request(user_key="u:ghost")) is SendOutcome.SKIPPED


def test_an_anonymous_visitor_identified_later_is_mailed_as_the_user(world: Send) -> None:
    world.user()
    anonymous = replace(UserProfile.new(PROJECT, "a:anon", world.clock()), alias_of="u1")
    world.users.save(anonymous, None)
    assert world.service.send(world.request(user_key="a:anon")) is SendOutcome.SENT
    assert world.mailer.sent[0].to == "Hanako@Example.jp"


def test_a_disabled_project_sends_no_marketing_mail(world: Send) -> None:
    world.user()
    project = world.projects.items[PROJECT]
    world.projects.update(replace(project, settings=replace(project.settings, enabled=False)))
    assert world.service.send(world.request()) is SendOutcome.SKIPPED


def test_the_users_locale_picks_the_content(world: Send) -> None:
    world.user(locale="en-US")
    world.service.send(world.request())
    assert world.mailer.sent[0].subject == "Hi"


def test_a_rate_limit_releases_the_send_for_the_retry(world: Send) -> None:
    world.user()
    world.mailer.failures.append(MailgunUnavailable("rate limited", status=429, retry_after=120))
    with pytest.raises(TransientSendFailure):
        world.service.send(world.request())
    assert world.service.send(world.request()) is SendOutcome.SENT
    assert len(world.mailer.sent) == 1


def test_a_refusal_fails_for_good_and_is_not_retried(world: Send) -> None:
    world.user()
    world.mailer.failures.append(MailgunRejected("Forbidden", status=401))
    with pytest.raises(PermanentSendFailure):
        world.service.send(world.request())
    record = world.messages.get(PROJECT, world.request().send_key)
    assert record is not None
    assert record.status is MessageStatus.FAILED
    assert world.service.send(world.request()) is SendOutcome.DUPLICATE
    assert world.stats.total(Counter.FAILED) == 1


def test_a_template_error_fails_for_good_before_anything_is_written(world: Send) -> None:
    world.user()
    world.templates.add(
        PROJECT, TemplateVersion("welcome", 2, world.clock(), {"ja": MailContent("x", "{missing}")}, "ja")
    )
    with pytest.raises(PermanentSendFailure, match=r"user\.missing"):
        world.service.send(world.request())
    assert world.messages.items == {}


def test_a_send_interrupted_after_mailgun_accepted_is_recovered_not_resent(world: Send) -> None:
    world.user()
    request = world.request()
    world.service.send(request)
    key = (PROJECT, request.send_key)
    # As if the sender died right after Mailgun's answer: the record still says "sending".
    accepted = world.messages.items[key]
    world.messages.items[key] = replace(
        accepted, status=MessageStatus.SENDING, lease_until=world.clock(), mailgun_id=None
    )
    world.clock.advance(minutes=5)
    assert world.service.send(request) is SendOutcome.DUPLICATE
    assert len(world.mailer.sent) == 1
    assert world.messages.items[key].status is MessageStatus.ACCEPTED


def test_a_send_interrupted_before_mailgun_is_taken_over_after_the_lease(world: Send) -> None:
    world.user()
    request = world.request()
    reserved = world.messages.reserve(
        replace_record_for(world, request, lease_until=world.clock() + timedelta(seconds=90))
    )
    assert reserved is not None
    with pytest.raises(TransientSendFailure):
        world.service.send(request)  # the lease still runs: someone may be sending right now
    world.clock.advance(minutes=2)
    assert world.service.send(request) is SendOutcome.SENT
    assert len(world.mailer.sent) == 1


def test_a_test_send_goes_to_the_given_address_with_a_harmless_unsubscribe_link(world: Send) -> None:
    request = world.request(kind=SendKind.TEST, user_key=None, to="qa@shop.example", occurrence="test-1")
    assert world.service.send(request) is SendOutcome.SENT
    [mail] = world.mailer.sent
    assert mail.to == "qa@shop.example"
    claim = read_token(mail.headers["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1], lambda p: "unsub-secret")
    assert claim.user_key == "test"


def test_operational_mail_has_no_footer_and_ignores_consent(world: Send) -> None:
    request = world.request(kind=SendKind.OPERATIONAL, user_key=None, to="ops@shop.example", occurrence="n-1")
    assert world.service.send(request) is SendOutcome.SENT
    assert world.renderer.footers == [None]
    assert "List-Unsubscribe" not in world.mailer.sent[0].headers


def test_a_project_without_mailgun_key_fails_for_good(world: Send) -> None:
    world.user()
    world.secrets.put(PROJECT, ProjectSecrets("unsub-secret"))
    with pytest.raises(PermanentSendFailure, match="API key"):
        world.service.send(world.request())


def replace_record_for(world: Send, request: SendRequest, **fields: Any) -> Any:
    from tagmail.domain.sending import MessageRecord

    return MessageRecord(
        project_id=PROJECT,
        send_key=request.send_key,
        kind=request.kind,
        status=MessageStatus.SENDING,
        campaign_id=request.campaign_id,
        variant=request.variant,
        created_at=world.clock(),
        updated_at=world.clock(),
        **fields,
    )


def test_a_webhook_arriving_before_the_acceptance_is_merged_not_lost(world: Send) -> None:
    world.user()
    request = world.request()
    original_send = world.mailer.send

    def send_and_race(envelope: Any) -> str:
        message_id = original_send(envelope)
        key = (PROJECT, request.send_key)
        # The `delivered` webhook is recorded while the sender still holds the record.
        world.messages.save(world.messages.items[key].with_status(MessageStatus.DELIVERED, world.clock()))
        return message_id

    world.mailer.send = send_and_race  # type: ignore[method-assign]
    assert world.service.send(request) is SendOutcome.SENT
    record = world.messages.get(PROJECT, request.send_key)
    assert record is not None
    assert record.status is MessageStatus.DELIVERED
    assert record.mailgun_id == "<1@mg.shop.example>"
