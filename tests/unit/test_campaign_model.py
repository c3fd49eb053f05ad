"""The campaign model: lifecycle, variants and holdout assignment, entry and exit rules."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tagmail.domain.campaigns import (
    HOLDOUT,
    Campaign,
    CampaignAction,
    CampaignStatus,
    Conversion,
    Variant,
)
from tagmail.domain.triggers import Condition, FrequencyCap, Operator, TriggerRule, exit_applies
from tagmail.errors import Conflict, InvalidInput

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def campaign(**changes: Any) -> Campaign:
    fields: dict[str, Any] = {
        "id": "c1",
        "project_id": "p1",
        "name": "Cart abandonment",
        "status": CampaignStatus.DRAFT,
        "created_at": NOW,
        "updated_at": NOW,
        "variants": (Variant("A", "t-cart", 1, weight=1), Variant("B", "t-cart", 2, weight=3)),
        "trigger": TriggerRule(entry_event="cart_add", exit_events=("purchase",), exit_key_property="cart_id"),
    }
    fields.update(changes)
    return Campaign(**fields)


# -- lifecycle ------------------------------------------------------------------------------------


def test_a_campaign_is_drafted_activated_paused_resumed_and_archived() -> None:
    draft = campaign()

    active = draft.apply(CampaignAction.ACTIVATE, NOW)
    paused = active.apply(CampaignAction.PAUSE, NOW)
    resumed = paused.apply(CampaignAction.RESUME, NOW)
    archived = resumed.apply(CampaignAction.ARCHIVE, NOW)

    assert [c.status for c in (draft, active, paused, resumed, archived)] == [
        CampaignStatus.DRAFT,
        CampaignStatus.ACTIVE,
        CampaignStatus.PAUSED,
        CampaignStatus.ACTIVE,
        CampaignStatus.ARCHIVED,
    ]
    # Pausing and archiving cancel what is pending: the epoch moves, so sends scheduled before are void.
    assert [c.epoch for c in (draft, active, paused, resumed, archived)] == [0, 0, 1, 1, 2]
    assert not archived.editable


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (CampaignStatus.DRAFT, CampaignAction.PAUSE),
        (CampaignStatus.DRAFT, CampaignAction.RESUME),
        (CampaignStatus.ACTIVE, CampaignAction.ACTIVATE),
        (CampaignStatus.ACTIVE, CampaignAction.RESUME),
        (CampaignStatus.PAUSED, CampaignAction.PAUSE),
        (CampaignStatus.PAUSED, CampaignAction.ACTIVATE),
        (CampaignStatus.ARCHIVED, CampaignAction.RESUME),
        (CampaignStatus.ARCHIVED, CampaignAction.ARCHIVE),
    ],
)
def test_a_transition_from_the_wrong_status_is_a_conflict(status: CampaignStatus, action: CampaignAction) -> None:
    with pytest.raises(Conflict):
        campaign(status=status).apply(action, NOW)


def test_a_draft_without_variants_or_trigger_cannot_run() -> None:
    with pytest.raises(InvalidInput, match="variant"):
        campaign(variants=()).apply(CampaignAction.ACTIVATE, NOW)
    with pytest.raises(InvalidInput, match="trigger"):
        campaign(trigger=None).apply(CampaignAction.ACTIVATE, NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": " "},
        {"holdout": 0.51},
        {"holdout": -0.1},
        {"default_locale": "not a locale"},
        {"variants": (Variant("A", "t", 1), Variant("A", "t", 2))},
        {"variants": tuple(Variant(f"v{i}", "t", 1) for i in range(11))},
    ],
    ids=["blank-name", "holdout-above-half", "negative-holdout", "bad-locale", "same-variant-name", "11-variants"],
)
def test_invalid_campaigns_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        campaign(**changes)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Variant("A", "t", 1, weight=0),
        lambda: Variant("A", "t", 0),
        lambda: Variant(HOLDOUT, "t", 1),
        lambda: Variant("has space", "t", 1),
        lambda: Conversion(window=timedelta(days=91)),
        lambda: FrequencyCap(project_daily_limit=0),
        lambda: TriggerRule(entry_event="purchase", exit_events=("purchase",)),
        lambda: TriggerRule(entry_event="cart_add", exit_key_property="cart_id"),
    ],
    ids=[
        "zero-weight",
        "version-zero",
        "holdout-as-variant",
        "space-in-name",
        "long-window",
        "zero-daily-limit",
        "entry-is-exit",
        "key-without-exit",
    ],
)
def test_invalid_parts_are_refused(build: Any) -> None:
    with pytest.raises(InvalidInput):
        build()


def test_the_conversion_defaults_are_a_purchase_within_seven_days() -> None:
    conversion = campaign().conversion
    assert (conversion.event, conversion.window, conversion.revenue_property) == (
        "purchase",
        timedelta(days=7),
        "revenue",
    )


# -- assignment -----------------------------------------------------------------------------------


def test_a_user_always_gets_the_same_variant() -> None:
    subject = campaign(holdout=0.2)
    first = {f"u:{i}": subject.assign(f"u:{i}").group for i in range(500)}

    again = {f"u:{i}": campaign(holdout=0.2, name="renamed").assign(f"u:{i}").group for i in range(500)}

    assert first == again


def test_the_variant_split_follows_the_weights_within_statistical_tolerance() -> None:
    users = 20_000
    subject = campaign(holdout=0.1)

    groups = Counter(subject.assign(f"u:user-{i}").group for i in range(users))

    # Expected shares: holdout 10 %, then A:B = 1:3 of the rest. Five standard deviations of a
    # binomial count is the tolerance (the hash is deterministic; this is about its uniformity).
    expected = {HOLDOUT: 0.1, "A": 0.9 * 0.25, "B": 0.9 * 0.75}
    for group, share in expected.items():
        tolerance = 5 * (users * share * (1 - share)) ** 0.5
        assert abs(groups[group] - users * share) <= tolerance, (group, groups[group])


def test_assignments_of_different_campaigns_are_independent() -> None:
    one = campaign(id="c1", variants=(Variant("A", "t", 1), Variant("B", "t", 1)))
    other = campaign(id="c2", variants=(Variant("A", "t", 1), Variant("B", "t", 1)))

    pairs = Counter((one.assign(f"u:{i}").group, other.assign(f"u:{i}").group) for i in range(4000))

    for pair in (("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")):
        assert abs(pairs[pair] - 1000) <= 5 * (4000 * 0.25 * 0.75) ** 0.5


def test_changing_the_holdout_share_keeps_variants_of_users_still_in_the_test() -> None:
    before = campaign(holdout=0.0)
    after = campaign(holdout=0.3)

    for i in range(2000):
        moved = after.assign(f"u:{i}")
        if not moved.holdout:
            assert moved.group == before.assign(f"u:{i}").group


def test_without_holdout_nobody_is_held_out() -> None:
    assert not any(campaign(holdout=0.0).assign(f"u:{i}").holdout for i in range(2000))


# -- entry and exit rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "properties", "holds"),
    [
        (Condition("sku", Operator.EQUALS, "TSHIRT"), {"sku": "TSHIRT"}, True),
        (Condition("sku", Operator.EQUALS, "TSHIRT"), {"sku": "tshirt"}, False),
        (Condition("qty", Operator.EQUALS, 1), {"qty": 1.0}, True),
        (Condition("qty", Operator.EQUALS, 1), {"qty": "1"}, False),
        (Condition("gift", Operator.EQUALS, True), {"gift": 1}, False),
        (Condition("gift", Operator.EQUALS, True), {"gift": True}, True),
        (Condition("currency", Operator.IN, ["JPY", "USD"]), {"currency": "USD"}, True),
        (Condition("currency", Operator.IN, ["JPY", "USD"]), {"currency": "EUR"}, False),
        (Condition("price", Operator.GT, 1000), {"price": 1000}, False),
        (Condition("price", Operator.GTE, 1000), {"price": 1000}, True),
        (Condition("price", Operator.LT, 1000), {"price": 999.5}, True),
        (Condition("price", Operator.LTE, 1000), {"price": "999"}, False),
        (Condition("price", Operator.GT, 0), {"price": True}, False),
        (Condition("price", Operator.GT, 0), {}, False),
        (Condition("coupon", Operator.EXISTS), {"coupon": "X"}, True),
        (Condition("coupon", Operator.EXISTS), {"coupon": None}, False),
        (Condition("coupon", Operator.EXISTS, False), {}, True),
        (Condition("cart.total", Operator.GTE, 5000), {"cart": {"total": 6000}}, True),
        (Condition("cart.total", Operator.GTE, 5000), {"cart": 6000}, False),
    ],
)
def test_conditions(condition: Condition, properties: dict[str, Any], holds: bool) -> None:
    assert condition.holds(properties) is holds


@pytest.mark.parametrize(
    "build",
    [
        lambda: Condition("price", Operator.GT, "1000"),
        lambda: Condition("price", Operator.IN, []),
        lambda: Condition("price", Operator.IN, [{"a": 1}]),
        lambda: Condition("price", Operator.EXISTS, "yes"),
        lambda: Condition("", Operator.EXISTS),
        lambda: Condition("sku", Operator.EQUALS, ["a"]),
    ],
)
def test_malformed_conditions_are_refused(build: Any) -> None:
    with pytest.raises(InvalidInput):
        build()


def test_the_entry_event_and_its_conditions_enter_a_user() -> None:
    rule = TriggerRule(
        entry_event="cart_add",
        event_conditions=(Condition("price", Operator.GTE, 1000),),
        user_conditions=(Condition("plan", Operator.IN, ["gold", "silver"]),),
    )

    assert rule.enters("cart_add", {"price": 1200})
    assert not rule.enters("cart_add", {"price": 800})
    assert not rule.enters("page_view", {"price": 1200})
    assert rule.admits({"plan": "gold"})
    assert not rule.admits({})
    assert rule.needs_profile


def test_an_exit_with_a_key_property_takes_out_only_the_same_key() -> None:
    rule = TriggerRule(entry_event="cart_add", exit_events=("purchase",), exit_key_property="cart_id")
    entry_key = rule.key_value({"cart_id": 42})

    assert entry_key == "42"
    assert exit_applies(entry_key, "cart_id", {"cart_id": "42"})
    assert not exit_applies(entry_key, "cart_id", {"cart_id": "43"})
    assert not exit_applies(entry_key, "cart_id", {})
    assert exit_applies(None, "cart_id", {"cart_id": "43"}), "an entry without a key leaves on any exit"
    assert exit_applies("42", None, {}), "without a key property any exit event applies"
    assert rule.is_exit("purchase")
    assert not rule.is_exit("cart_add")
    assert not rule.needs_profile
