"""The send path's last look at a trigger mail: an exit event since entry, or a pause since it was
scheduled, skips it (a late or lost StopExecution cannot send a wrong mail); and the reader's
locale falls back to the campaign's default."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from tagmail.domain.campaigns import Campaign, CampaignAction, CampaignStatus, Variant
from tagmail.domain.sending import MessageStatus, SendKind, SendRequest
from tagmail.domain.templates import MailContent, TemplateVersion
from tagmail.domain.tracking import StoredEvent
from tagmail.domain.triggers import TriggerRule, event_time_text
from tagmail.domain.users import UserProfile
from tagmail.services.send import SendOutcome
from tagmail.services.trigger_recheck import TriggerRecheck
from tests.unit.fakes import FakeCampaigns, FakeEventHistory
from tests.unit.test_send_service import PROJECT, Send


class TriggerSend(Send):
    """The send path of test_send_service with the trigger re-check, and an active campaign."""

    def __init__(self) -> None:
        super().__init__()
        self.campaigns = FakeCampaigns()
        self.history = FakeEventHistory()
        self.service = self.build_service(recheck=TriggerRecheck(campaigns=self.campaigns, history=self.history))
        self.campaign = self.campaigns.add(
            Campaign(
                id="cart",
                project_id=PROJECT,
                name="cart",
                status=CampaignStatus.ACTIVE,
                created_at=self.clock(),
                updated_at=self.clock(),
                variants=(Variant("A", "welcome", 1),),
                trigger=TriggerRule(entry_event="cart_add", exit_events=("purchase",), exit_key_property="cart_id"),
            )
        )
        self.entered_at = self.clock() - timedelta(hours=1)

    def trigger_request(self, user_key: str = "u:u1", **fields: Any) -> SendRequest:
        values: dict[str, Any] = {
            "project_id": PROJECT,
            "kind": SendKind.MARKETING,
            "template_id": "welcome",
            "template_version": 1,
            "occurrence": uuid.uuid4().hex,
            "campaign_id": "cart",
            "variant": "A",
            "user_key": user_key,
            "entered_at": event_time_text(self.entered_at),
            "exit_events": ["purchase"],
            "exit_key_property": "cart_id",
            "exit_key_value": "c-1",
            "campaign_epoch": 0,
        }
        values.update(fields)
        return SendRequest(**values)

    def happened(self, name: str, at: datetime, actor: str = "u:u1", **properties: Any) -> None:
        stored = StoredEvent(PROJECT, actor, uuid.uuid4().hex, "track", name, event_time_text(at), None, properties)
        self.history.add(stored)

    def reason(self, request: SendRequest) -> str | None:
        stored = self.messages.get(PROJECT, request.send_key)
        assert stored is not None
        return stored.reason if stored.status is MessageStatus.SKIPPED else None


@pytest.fixture
def send() -> TriggerSend:
    return TriggerSend()


def test_a_purchase_of_the_cart_since_entry_skips_the_mail_as_exited(send: TriggerSend) -> None:
    send.user()
    send.happened("purchase", send.entered_at + timedelta(minutes=5), cart_id="c-1")
    request = send.trigger_request()

    assert send.service.send(request) is SendOutcome.SKIPPED
    assert send.reason(request) == "exited"
    assert send.mailer.sent == []


@pytest.mark.parametrize(
    ("name", "minutes", "cart"),
    [("purchase", 5, "c-2"), ("purchase", -5, "c-1"), ("page_view", 5, "c-1")],
    ids=["another-cart", "before-entry", "not-an-exit-event"],
)
def test_other_events_let_the_mail_go(send: TriggerSend, name: str, minutes: int, cart: str) -> None:
    send.user()
    send.happened(name, send.entered_at + timedelta(minutes=minutes), cart_id=cart)

    assert send.service.send(send.trigger_request()) is SendOutcome.SENT


def test_an_anonymous_entry_is_mailed_once_identified_unless_the_user_bought(send: TriggerSend) -> None:
    send.user("u1")
    send.users.save(replace(UserProfile.new(PROJECT, "a:anon-1", send.clock()), alias_of="u1"), None)

    first = send.trigger_request("a:anon-1")
    assert send.service.send(first) is SendOutcome.SENT
    assert send.mailer.sent[0].to == "Hanako@Example.jp"

    send.happened("purchase", send.entered_at + timedelta(minutes=1), actor="u:u1", cart_id="c-1")
    second = send.trigger_request("a:anon-1")
    assert send.service.send(second) is SendOutcome.SKIPPED
    assert send.reason(second) == "exited"
    assert set(send.history.reads) == {"a:anon-1", "u:u1"}, "both ids of the user are looked at"


def test_an_anonymous_entry_never_identified_is_not_mailed(send: TriggerSend) -> None:
    request = send.trigger_request("a:stranger")

    assert send.service.send(request) is SendOutcome.SKIPPED
    assert send.reason(request) == "unknown_user"


@pytest.mark.parametrize(
    ("actions", "reason"),
    [
        ([CampaignAction.PAUSE], "campaign_paused"),
        ([CampaignAction.PAUSE, CampaignAction.RESUME], "campaign_paused"),
        ([CampaignAction.ARCHIVE], "campaign_archived"),
    ],
    ids=["paused", "paused-and-resumed", "archived"],
)
def test_a_campaign_paused_since_scheduling_skips_the_mail(
    send: TriggerSend, actions: list[CampaignAction], reason: str
) -> None:
    send.user()
    campaign = send.campaign
    for action in actions:
        campaign = send.campaigns.save(campaign.apply(action, send.clock()))  # type: ignore[assignment]

    request = send.trigger_request()

    assert send.service.send(request) is SendOutcome.SKIPPED
    assert send.reason(request) == reason


def test_an_edit_of_the_campaign_does_not_touch_a_scheduled_mail(send: TriggerSend) -> None:
    send.user()
    send.campaigns.save(replace(send.campaign, name="renamed", variants=(Variant("B", "welcome", 1),)))

    assert send.service.send(send.trigger_request()) is SendOutcome.SENT


def test_mail_that_is_not_a_trigger_mail_is_not_rechecked(send: TriggerSend) -> None:
    send.user()
    send.campaigns.items.clear()

    assert send.service.send(send.request()) is SendOutcome.SENT
    assert send.history.reads == []


@pytest.mark.parametrize(
    ("reader", "campaign_default", "subject"),
    [
        ("en-US", "ja", "Hi"),  # ja-JP → ja: the language of the reader's tag
        ("ja-JP", "en", "ようこそ 花子"),
        ("fr", "en", "Hi"),  # the reader's locale is not there: the campaign's default
        (None, "en", "Hi"),
        ("fr", "de", "ようこそ 花子"),  # neither: the template's default
    ],
)
def test_the_locale_falls_back_from_the_reader_to_the_campaigns_default(
    send: TriggerSend, reader: str | None, campaign_default: str, subject: str
) -> None:
    send.user(locale=reader)

    send.service.send(send.trigger_request(default_locale=campaign_default))

    assert send.mailer.sent[0].subject == subject


def test_without_a_campaign_default_the_projects_default_locale_applies(send: TriggerSend) -> None:
    send.templates.add(
        PROJECT,
        TemplateVersion(
            "welcome", 2, send.clock(), {"en": MailContent("Hi", "<p/>"), "ja": MailContent("やあ", "<p/>")}, "en"
        ),
    )
    send.user(locale=None)

    send.service.send(send.trigger_request(template_version=2))

    assert send.mailer.sent[0].subject == "やあ", "the project's default locale is ja"
