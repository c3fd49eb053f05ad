"""Trigger evaluation over fakes: entry, variants and holdout, caps, immediate and delayed sends,
exits, redelivery, the campaign cache, and pausing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from tagmail.domain.campaigns import HOLDOUT, Campaign, CampaignAction, CampaignStatus, Variant
from tagmail.domain.projects import Project
from tagmail.domain.sending import MessageRecord, MessageStatus, SendKind, SendRequest
from tagmail.domain.settings import MailSettings
from tagmail.domain.stats import Counter
from tagmail.domain.tracking import StoredEvent
from tagmail.domain.triggers import (
    Condition,
    EntryOutcome,
    FrequencyCap,
    Operator,
    Timing,
    TimingKind,
    TriggerRule,
    event_time_text,
    execution_name,
)
from tagmail.domain.users import UserProfile
from tagmail.services.campaign_results import CampaignResultsService
from tagmail.services.campaigns import CampaignAdmin
from tagmail.services.triggers import PendingSends, TriggerEvaluator
from tests.unit.fakes import (
    FakeCampaignEntries,
    FakeCampaigns,
    FakeClock,
    FakeDelayedSends,
    FakeFrequencyCaps,
    FakeMessages,
    FakeProjects,
    FakeSendQueue,
    FakeStats,
    FakeTemplateStore,
    FakeUsers,
)

PROJECT = "p1"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ONE_HOUR = Timing(TimingKind.DELAY, delay=timedelta(hours=1))


class Triggers:
    """The evaluator with every port faked, a project in Tokyo, and helpers to feed it events."""

    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.campaigns = FakeCampaigns()
        self.projects = FakeProjects()
        self.projects.add(Project(PROJECT, "shop", START, MailSettings(timezone="Asia/Tokyo")))
        self.users = FakeUsers()
        self.stats = FakeStats()
        self.entries = FakeCampaignEntries(self.stats)
        self.caps = FakeFrequencyCaps()
        self.queue = FakeSendQueue()
        self.delayed = FakeDelayedSends()
        self.messages = FakeMessages()
        self.pending = PendingSends(entries=self.entries, delayed=self.delayed, caps=self.caps, clock=self.clock)
        self.evaluator = TriggerEvaluator(
            campaigns=self.campaigns,
            projects=self.projects,
            users=self.users,
            entries=self.entries,
            caps=self.caps,
            queue=self.queue,
            delayed=self.delayed,
            pending=self.pending,
            messages=self.messages,
            clock=self.clock,
        )

    def campaign(self, campaign_id: str = "cart", **fields: Any) -> Campaign:
        values: dict[str, Any] = {
            "id": campaign_id,
            "project_id": PROJECT,
            "name": campaign_id,
            "status": CampaignStatus.ACTIVE,
            "created_at": START,
            "updated_at": START,
            "variants": (Variant("A", "t-cart", 3),),
            "trigger": TriggerRule(
                entry_event="cart_add", exit_events=("purchase",), exit_key_property="cart_id", timing=ONE_HOUR
            ),
        }
        values.update(fields)
        return self.campaigns.add(Campaign(**values))

    def event(
        self,
        name: str,
        actor: str = "u:42",
        *,
        message_id: str | None = None,
        at: datetime | None = None,
        anonymous_id: str | None = None,
        **properties: Any,
    ) -> StoredEvent:
        stored = StoredEvent(
            project_id=PROJECT,
            actor=actor,
            message_id=message_id or uuid.uuid4().hex,
            type="track",
            event=name,
            ts=event_time_text(at or self.clock()),
            anonymous_id=anonymous_id,
            properties=properties,
        )
        self.evaluator.evaluate(stored)
        return stored

    def counts(self, campaign_id: str = "cart", group: str = "A") -> dict[Counter, int]:
        return self.stats.counts.get((PROJECT, campaign_id, group), {})


@pytest.fixture
def triggers() -> Triggers:
    return Triggers()


# -- sends ----------------------------------------------------------------------------------------


def test_an_immediate_trigger_queues_the_send_request_for_the_entry(triggers: Triggers) -> None:
    triggers.campaign("welcome", trigger=TriggerRule(entry_event="signup"), default_locale="en")

    stored = triggers.event("signup", plan="gold")

    [request] = triggers.queue.requests
    assert (request.kind, request.campaign_id, request.variant) == (SendKind.MARKETING, "welcome", "A")
    assert (request.template_id, request.template_version) == ("t-cart", 3), "the pinned version"
    assert request.occurrence == stored.message_id
    assert request.user_key == "u:42"
    assert request.event == {"name": "signup", "properties": {"plan": "gold"}, "timestamp": stored.ts}
    assert (request.default_locale, request.campaign_epoch, request.entered_at) == ("en", 0, stored.ts)
    assert triggers.delayed.started == {}
    assert triggers.counts("welcome") == {Counter.ENTERED: 1, Counter.SCHEDULED: 1}


def test_a_delayed_trigger_starts_one_named_execution_due_after_the_delay(triggers: Triggers) -> None:
    triggers.campaign()

    stored = triggers.event("cart_add", cart_id="c-1")

    name = execution_name(PROJECT, "cart", "u:42", stored.message_id)
    due, request = triggers.delayed.started[name]
    assert due == START + timedelta(hours=1)
    assert request.occurrence == stored.message_id
    assert (request.exit_events, request.exit_key_property, request.exit_key_value) == (["purchase"], "cart_id", "c-1")
    assert triggers.queue.requests == []
    assert triggers.entries.outcomes() == [EntryOutcome.SCHEDULED]
    assert triggers.counts() == {Counter.ENTERED: 1, Counter.SCHEDULED: 1}


def test_the_same_event_delivered_twice_schedules_one_execution_and_counts_once(triggers: Triggers) -> None:
    triggers.campaign()
    first = triggers.event("cart_add", cart_id="c-1")

    triggers.clock.advance(seconds=5)
    triggers.evaluator.evaluate(first)

    assert len(triggers.delayed.started) == 1
    assert triggers.counts() == {Counter.ENTERED: 1, Counter.SCHEDULED: 1}


def test_an_immediate_send_redelivered_keeps_its_send_key(triggers: Triggers) -> None:
    triggers.campaign("welcome", trigger=TriggerRule(entry_event="signup"))
    stored = triggers.event("signup")

    triggers.evaluator.evaluate(stored)

    assert len({request.send_key for request in triggers.queue.requests}) == 1, "the send path dedupes it"
    assert triggers.counts("welcome") == {Counter.ENTERED: 1, Counter.SCHEDULED: 1}


def test_conditions_on_the_event_and_the_user_decide_entry(triggers: Triggers) -> None:
    rule = TriggerRule(
        entry_event="cart_add",
        event_conditions=(Condition("price", Operator.GTE, 1000),),
        user_conditions=(Condition("plan", Operator.EQUALS, "gold"),),
    )
    triggers.campaign(trigger=rule)
    triggers.users.save(replace(UserProfile.new(PROJECT, "u:42", START), attributes={"plan": "gold"}), None)
    triggers.users.save(replace(UserProfile.new(PROJECT, "u:43", START), attributes={"plan": "free"}), None)

    triggers.event("cart_add", price=500)
    triggers.event("cart_add", "u:43", price=5000)
    triggers.event("cart_add", "u:44", price=5000)  # no profile: no attributes
    triggers.event("cart_add", price=5000)

    assert [request.user_key for request in triggers.queue.requests] == ["u:42"]


def test_the_profile_is_read_once_per_event_and_only_when_a_campaign_needs_it(triggers: Triggers) -> None:
    reads: list[str] = []
    read = triggers.users.get

    def counting_get(project_id: str, key: str, consistent: bool = False) -> UserProfile | None:
        reads.append(key)
        return read(project_id, key, consistent)

    triggers.users.get = counting_get  # type: ignore[method-assign]
    triggers.campaign("plain", trigger=TriggerRule(entry_event="cart_add"))
    triggers.event("cart_add")
    assert reads == []

    rule = TriggerRule(entry_event="cart_add", user_conditions=(Condition("plan", Operator.EXISTS, False),))
    triggers.campaign("c2", trigger=rule)
    triggers.campaign("c3", trigger=rule)
    triggers.clock.advance(minutes=2)  # the campaign cache refreshes
    triggers.event("cart_add", "u:7")

    assert reads == ["u:7"]


def test_an_anonymous_visitors_profile_is_the_user_it_was_linked_to(triggers: Triggers) -> None:
    timing = Timing(TimingKind.LOCAL_TIME, days=1, at=time(10, 0))
    triggers.campaign(trigger=TriggerRule(entry_event="cart_add", timing=timing))
    triggers.users.save(replace(UserProfile.new(PROJECT, "a:anon-1", START), alias_of="42"), None)
    triggers.users.save(replace(UserProfile.new(PROJECT, "u:42", START), timezone="America/New_York"), None)

    stored = triggers.event("cart_add", "a:anon-1")

    due, request = triggers.delayed.started[execution_name(PROJECT, "cart", "a:anon-1", stored.message_id)]
    assert due == datetime(2026, 12, 2, 15, 0, tzinfo=UTC), "10:00 the next day in New York"
    assert request.user_key == "a:anon-1", "the send path resolves the alias when the mail is due"


def test_local_time_falls_back_to_the_projects_time_zone(triggers: Triggers) -> None:
    timing = Timing(TimingKind.LOCAL_TIME, days=2, at=time(10, 0))
    triggers.campaign(trigger=TriggerRule(entry_event="cart_add", timing=timing))

    triggers.event("cart_add", "u:no-profile")

    [(due, _)] = triggers.delayed.started.values()
    assert due == datetime(2026, 12, 3, 1, 0, tzinfo=UTC), "10:00 in Tokyo, two local days later"


def test_an_event_older_than_a_day_triggers_nothing(triggers: Triggers) -> None:
    triggers.campaign()

    triggers.event("cart_add", at=START - timedelta(hours=25))

    assert triggers.delayed.started == {}
    assert triggers.stats.counts == {}


def test_a_clock_ahead_of_ours_does_not_delay_the_mail(triggers: Triggers) -> None:
    triggers.campaign()

    triggers.event("cart_add", at=START + timedelta(hours=3))

    [(due, _)] = triggers.delayed.started.values()
    assert due == START + timedelta(hours=1)


# -- holdout and variants ---------------------------------------------------------------------------


def test_holdout_users_get_nothing_and_are_counted(triggers: Triggers) -> None:
    triggers.campaign(holdout=0.5, variants=(Variant("A", "t", 1), Variant("B", "t", 1)))

    for i in range(200):
        triggers.event("cart_add", f"u:{i}")

    held = triggers.counts(group=HOLDOUT)
    mailed = sum(triggers.counts(group=g).get(Counter.SCHEDULED, 0) for g in ("A", "B"))
    assert held.get(Counter.SCHEDULED, 0) == 0
    assert held[Counter.HOLDOUT] == held[Counter.ENTERED] > 0
    assert held[Counter.ENTERED] + mailed == 200
    assert len(triggers.delayed.started) == mailed
    assert {request.variant for _, request in triggers.delayed.started.values()} == {"A", "B"}


def test_a_user_gets_the_same_variant_on_every_entry(triggers: Triggers) -> None:
    triggers.campaign(
        variants=(Variant("A", "t", 1), Variant("B", "t", 1)),
        trigger=TriggerRule(entry_event="cart_add", frequency_cap=FrequencyCap(period=None)),
    )

    for _ in range(5):
        triggers.event("cart_add", "u:steady")

    assert len({request.variant for request in triggers.queue.requests}) == 1
    assert len(triggers.queue.requests) == 5


# -- caps -------------------------------------------------------------------------------------------


def test_the_frequency_cap_lets_one_entry_per_period(triggers: Triggers) -> None:
    triggers.campaign(trigger=TriggerRule(entry_event="cart_add", timing=ONE_HOUR))  # cap: one a day

    triggers.event("cart_add")
    triggers.clock.advance(hours=2)
    triggers.event("cart_add")
    triggers.clock.advance(hours=23)
    triggers.event("cart_add")

    assert len(triggers.delayed.started) == 2
    assert triggers.counts()[Counter.CAPPED] == 1
    assert triggers.counts()[Counter.ENTERED] == 2


def test_a_redelivered_entry_still_holds_its_own_cap(triggers: Triggers) -> None:
    triggers.campaign()
    stored = triggers.event("cart_add", cart_id="c-1")

    triggers.evaluator.evaluate(stored)

    assert Counter.CAPPED not in triggers.counts()


def test_the_project_wide_daily_cap_counts_mails_across_campaigns(triggers: Triggers) -> None:
    cap = FrequencyCap(period=None, project_daily_limit=2)
    for name in ("one", "two", "three"):
        triggers.campaign(name, trigger=TriggerRule(entry_event="cart_add", frequency_cap=cap))

    triggers.event("cart_add")

    assert len(triggers.queue.requests) == 2
    assert sum(triggers.counts(name).get(Counter.CAPPED, 0) for name in ("one", "two", "three")) == 1


# -- exits ------------------------------------------------------------------------------------------


def test_an_exit_event_stops_the_pending_send_of_the_same_cart(triggers: Triggers) -> None:
    triggers.campaign()
    triggers.event("cart_add", cart_id="c-1")
    triggers.event("cart_add", "u:other", cart_id="c-9")
    triggers.clock.advance(minutes=10)

    triggers.event("purchase", cart_id="c-1")

    assert len(triggers.delayed.stopped) == 1
    [(_, still_pending)] = triggers.delayed.pending().values()
    assert still_pending.user_key == "u:other"
    assert triggers.counts()[Counter.CANCELLED] == 1


def test_an_exit_for_another_cart_leaves_the_send_pending(triggers: Triggers) -> None:
    triggers.campaign()
    triggers.event("cart_add", cart_id="c-1")

    triggers.event("purchase", cart_id="c-2")

    assert triggers.delayed.stopped == []


def test_an_exit_stamped_before_the_entry_does_not_cancel_it(triggers: Triggers) -> None:
    triggers.campaign()
    triggers.event("cart_add", cart_id="c-1")

    triggers.event("purchase", at=START - timedelta(minutes=5), cart_id="c-1")

    assert triggers.delayed.stopped == []


def test_an_exit_after_the_send_was_due_changes_nothing(triggers: Triggers) -> None:
    triggers.campaign()
    triggers.event("cart_add", cart_id="c-1")
    triggers.clock.advance(hours=2)

    triggers.event("purchase", cart_id="c-1")

    assert triggers.delayed.stopped == []
    assert Counter.CANCELLED not in triggers.counts()


def test_a_visitor_who_signs_in_and_buys_cancels_what_they_entered_anonymously(triggers: Triggers) -> None:
    triggers.campaign()
    triggers.event("cart_add", "a:anon-1", cart_id="c-1")

    triggers.event("purchase", "u:42", anonymous_id="anon-1", cart_id="c-1")

    assert len(triggers.delayed.stopped) == 1


def test_an_exit_redelivered_counts_one_cancellation(triggers: Triggers) -> None:
    triggers.campaign()
    triggers.event("cart_add", cart_id="c-1")
    purchase = triggers.event("purchase", cart_id="c-1")

    triggers.evaluator.evaluate(purchase)

    assert triggers.counts()[Counter.CANCELLED] == 1


def test_a_cancelled_entry_frees_the_cap_for_the_next_cart(triggers: Triggers) -> None:
    triggers.campaign()
    triggers.event("cart_add", cart_id="c-1")
    triggers.event("purchase", cart_id="c-1")

    triggers.event("cart_add", cart_id="c-2")

    assert len(triggers.delayed.pending()) == 1
    assert Counter.CAPPED not in triggers.counts()


# -- the campaign cache and pausing -------------------------------------------------------------


def test_campaigns_are_read_once_a_minute_per_container(triggers: Triggers) -> None:
    triggers.campaign(trigger=TriggerRule(entry_event="cart_add"))
    triggers.event("cart_add", "u:1")
    reads = triggers.campaigns.reads

    triggers.campaigns.items.clear()  # deleted meanwhile: the cache does not know yet
    triggers.event("cart_add", "u:2")
    assert triggers.campaigns.reads == reads
    assert len(triggers.queue.requests) == 2

    triggers.clock.advance(seconds=61)
    triggers.event("cart_add", "u:3")
    assert triggers.campaigns.reads == reads + 1
    assert len(triggers.queue.requests) == 2


def test_pausing_a_campaign_stops_its_pending_sends_and_it_takes_no_new_entries(triggers: Triggers) -> None:
    triggers.campaign()
    for i in range(3):
        triggers.event("cart_add", f"u:{i}")
    admin = CampaignAdmin(
        campaigns=triggers.campaigns, templates=FakeTemplateStore(), clock=triggers.clock, pending=triggers.pending
    )

    result = admin.act(PROJECT, "cart", CampaignAction.PAUSE)
    triggers.clock.advance(seconds=61)
    triggers.event("cart_add", "u:late")

    assert result.stopped == 3
    assert result.campaign.epoch == 1
    assert triggers.delayed.pending() == {}
    assert triggers.counts()[Counter.CANCELLED] == 3
    assert len(triggers.delayed.started) == 3


# -- conversions ------------------------------------------------------------------------------------


def mark(triggers: Triggers, request: SendRequest, status: MessageStatus = MessageStatus.DELIVERED) -> None:
    """The send path's record of the request, as it stands after sending."""
    now = triggers.clock()
    record = MessageRecord(
        project_id=request.project_id,
        send_key=request.send_key,
        kind=request.kind,
        status=status,
        campaign_id=request.campaign_id,
        variant=request.variant,
        created_at=now,
        updated_at=now,
        user_key=request.user_key,
    )
    assert triggers.messages.reserve(record) is not None


def immediate(triggers: Triggers, **fields: Any) -> Campaign:
    return triggers.campaign(trigger=TriggerRule(entry_event="cart_add", exit_events=("purchase",)), **fields)


def test_a_purchase_after_the_mail_converts_the_entry_once_with_its_revenue(triggers: Triggers) -> None:
    immediate(triggers)
    triggers.event("cart_add")
    mark(triggers, triggers.queue.requests[0])
    triggers.clock.advance(days=2)

    purchase = triggers.event("purchase", revenue=3980)
    triggers.evaluator.evaluate(purchase)  # redelivered
    triggers.event("purchase", revenue=1000)  # a second purchase: the entry converted already

    assert triggers.counts()[Counter.CONVERTED] == 1
    assert triggers.entries.revenue[(PROJECT, "cart", "A")] == 3980


@pytest.mark.parametrize(
    ("status", "days", "converts"),
    [
        (MessageStatus.OPENED, 6.9, True),
        (MessageStatus.DELIVERED, 7.1, False),  # after the window
        (MessageStatus.SKIPPED, 1, False),  # never sent
        (MessageStatus.FAILED_PERMANENT, 1, False),  # bounced
    ],
)
def test_only_a_sent_mail_converts_and_only_within_the_window(
    triggers: Triggers, status: MessageStatus, days: float, converts: bool
) -> None:
    immediate(triggers)
    triggers.event("cart_add")
    mark(triggers, triggers.queue.requests[0], status)
    triggers.clock.advance(days=days)

    triggers.event("purchase", revenue=500)

    assert triggers.counts().get(Counter.CONVERTED, 0) == int(converts)


def test_the_latest_mail_before_the_purchase_converts(triggers: Triggers) -> None:
    triggers.campaign(trigger=TriggerRule(entry_event="cart_add", frequency_cap=FrequencyCap(period=None)))
    triggers.event("cart_add")
    triggers.clock.advance(hours=5)
    triggers.event("cart_add")
    for request in triggers.queue.requests:
        mark(triggers, request)

    triggers.event("purchase")

    converted = [e for e in triggers.entries.items.values() if e.converted_at is not None]
    assert [e.entered_at for e in converted] == [START + timedelta(hours=5)]


def test_the_holdout_converts_after_the_mail_would_have_gone_and_leaves_on_an_exit_before(
    triggers: Triggers,
) -> None:
    triggers.campaign(holdout=0.5)  # one hour's delay, exit on purchase
    users = [f"u:{i}" for i in range(40)]
    held = [user for user in users if triggers.campaigns.items[(PROJECT, "cart")].assign(user).holdout]
    early, late = held[: len(held) // 2], held[len(held) // 2 :]
    for user in held:
        triggers.event("cart_add", user)

    triggers.clock.advance(minutes=30)
    for user in early:
        triggers.event("purchase", user)  # before the mail would have gone: out, as a mailed user would be
    triggers.clock.advance(hours=2)
    for user in [*early, *late]:
        triggers.event("purchase", user, revenue=100)

    held_row = triggers.counts(group=HOLDOUT)
    assert held_row[Counter.CANCELLED] == len(early)
    assert held_row[Counter.CONVERTED] == len(late)
    assert triggers.entries.revenue[(PROJECT, "cart", HOLDOUT)] == 100 * len(late)


def test_a_paused_campaigns_sent_mails_still_convert(triggers: Triggers) -> None:
    immediate(triggers)
    triggers.event("cart_add")
    mark(triggers, triggers.queue.requests[0])
    admin = CampaignAdmin(campaigns=triggers.campaigns, templates=FakeTemplateStore(), clock=triggers.clock)
    admin.act(PROJECT, "cart", CampaignAction.PAUSE)
    triggers.clock.advance(days=1)

    triggers.event("purchase", revenue="not a number")

    assert triggers.counts()[Counter.CONVERTED] == 1
    assert triggers.entries.revenue[(PROJECT, "cart", "A")] == 0


def test_results_show_each_variant_against_the_holdout(triggers: Triggers) -> None:
    triggers.campaign(
        holdout=0.3,
        variants=(Variant("A", "t", 1), Variant("B", "t", 1)),
        trigger=TriggerRule(entry_event="cart_add", frequency_cap=FrequencyCap(period=None)),
    )
    for i in range(300):
        triggers.event("cart_add", f"u:{i}")
    for request in triggers.queue.requests:
        mark(triggers, request)
    triggers.clock.advance(hours=1)
    campaign = triggers.campaigns.items[(PROJECT, "cart")]
    members: dict[str, list[str]] = {}
    for i in range(300):
        members.setdefault(campaign.assign(f"u:{i}").group, []).append(f"u:{i}")
    for group, users in members.items():
        every = 2 if group == "A" else 4  # A converts a half of its users, the others a quarter
        for user in users[::every]:
            triggers.event("purchase", user, revenue=10)

    results = CampaignResultsService(campaigns=triggers.campaigns, figures=triggers.entries).results(PROJECT, "cart")

    by_group = {group.group: group for group in results.groups}
    assert list(by_group) == ["A", "B", HOLDOUT]
    assert sum(group.entered for group in results.groups) == 300
    assert by_group[HOLDOUT].scheduled == 0
    for group in results.groups:
        assert group.entered == len(members[group.group])
        assert group.converted == len(members[group.group][:: 2 if group.group == "A" else 4])
        assert group.revenue == 10 * group.converted
        assert group.conversion_rate == group.converted / group.entered
    lift_a, lift_b = results.lift(by_group["A"]), results.lift(by_group["B"])
    holdout_rate = by_group[HOLDOUT].conversion_rate
    assert holdout_rate is not None
    assert lift_a == pytest.approx(by_group["A"].converted / by_group["A"].entered / holdout_rate - 1)
    assert lift_b == pytest.approx(by_group["B"].converted / by_group["B"].entered / holdout_rate - 1)
    assert results.lift(by_group[HOLDOUT]) is None
