"""Campaigns: what every kind of delivery shares — variants with pinned template versions, a
holdout, the default locale, conversion measurement, the lifecycle. Trigger campaigns add their
`trigger` part (tagmail.domain.triggers); list and scheduled deliveries will add theirs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from tagmail.domain.triggers import MAX_DELAY, TriggerRule
from tagmail.errors import Conflict, InvalidInput

MAX_NAME_LENGTH = 200
MAX_VARIANTS = 10
MAX_WEIGHT = 10_000
MAX_HOLDOUT = 0.5
# The stats row (and group name) of users held out: they get nothing and are measured.
HOLDOUT = "holdout"
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class CampaignAction(StrEnum):
    ACTIVATE = "activate"
    PAUSE = "pause"
    RESUME = "resume"
    ARCHIVE = "archive"


_TRANSITIONS: dict[CampaignAction, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    CampaignAction.ACTIVATE: (frozenset({CampaignStatus.DRAFT}), CampaignStatus.ACTIVE),
    CampaignAction.PAUSE: (frozenset({CampaignStatus.ACTIVE}), CampaignStatus.PAUSED),
    CampaignAction.RESUME: (frozenset({CampaignStatus.PAUSED}), CampaignStatus.ACTIVE),
    CampaignAction.ARCHIVE: (
        frozenset({CampaignStatus.DRAFT, CampaignStatus.ACTIVE, CampaignStatus.PAUSED}),
        CampaignStatus.ARCHIVED,
    ),
}


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B test: its share (weight) and the template version it sends."""

    name: str
    template_id: str
    template_version: int
    weight: int = 1

    def __post_init__(self) -> None:
        if not _VARIANT_NAME.match(self.name) or self.name == HOLDOUT:
            raise InvalidInput(
                "a variant name is 1 to 32 letters, digits, '-' or '_' (and not 'holdout')", field="variants.name"
            )
        if not 1 <= self.weight <= MAX_WEIGHT:
            raise InvalidInput(f"a weight is a whole number from 1 to {MAX_WEIGHT}", field="variants.weight")
        if not self.template_id.strip():
            raise InvalidInput("a variant names its template", field="variants.template_id")
        if self.template_version < 1:
            raise InvalidInput("template versions start at 1", field="variants.template_version")


@dataclass(frozen=True)
class Conversion:
    """What counts as a conversion: `event` by the user within `window` after the send (after the
    entry, for the holdout), its revenue read from `revenue_property`."""

    event: str = "purchase"
    window: timedelta = timedelta(days=7)
    revenue_property: str | None = "revenue"

    def __post_init__(self) -> None:
        if not self.event.strip() or len(self.event) > 255:
            raise InvalidInput("the conversion event is 1 to 255 characters", field="conversion.event")
        if not timedelta(hours=1) <= self.window <= MAX_DELAY:
            raise InvalidInput("the conversion window is 1 hour to 90 days", field="conversion.window_seconds")


@dataclass(frozen=True)
class Assignment:
    """Where a user falls in a campaign: a variant, or the holdout (variant None)."""

    variant: Variant | None

    @property
    def holdout(self) -> bool:
        return self.variant is None

    @property
    def group(self) -> str:
        return HOLDOUT if self.variant is None else self.variant.name


@dataclass(frozen=True)
class Campaign:
    id: str
    project_id: str
    name: str
    status: CampaignStatus
    created_at: datetime
    updated_at: datetime
    variants: tuple[Variant, ...] = ()
    # Share of users (0 to 0.5) who get nothing, to measure what the mail adds.
    holdout: float = 0.0
    # The locale for readers whose own is not among a template's (None: the project's).
    default_locale: str | None = None
    conversion: Conversion = field(default_factory=Conversion)
    trigger: TriggerRule | None = None
    # Raised by every pause and archive: a send scheduled under an earlier epoch is cancelled.
    epoch: int = 0
    # The stored revision this campaign was read at; writes are conditional on it.
    revision: int | None = None

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > MAX_NAME_LENGTH:
            raise InvalidInput(f"a name is 1 to {MAX_NAME_LENGTH} characters", field="name")
        if len(self.variants) > MAX_VARIANTS:
            raise InvalidInput(f"at most {MAX_VARIANTS} variants", field="variants")
        if len({variant.name for variant in self.variants}) != len(self.variants):
            raise InvalidInput("variant names must differ", field="variants")
        if not 0 <= self.holdout <= MAX_HOLDOUT:
            raise InvalidInput("the holdout share is 0 to 0.5", field="holdout")
        if self.default_locale is not None and not _LOCALE.match(self.default_locale):
            raise InvalidInput("the default locale is a tag such as 'ja' or 'en-US'", field="default_locale")
        object.__setattr__(self, "variants", tuple(self.variants))

    @property
    def editable(self) -> bool:
        return self.status is not CampaignStatus.ARCHIVED

    def check_runnable(self) -> None:
        """What activation needs: something to send, and (for now, the only kind) a trigger."""
        if not self.variants:
            raise InvalidInput("a campaign needs at least one variant to run", field="variants")
        if self.trigger is None:
            raise InvalidInput("a campaign needs a trigger to run", field="trigger")

    def apply(self, action: CampaignAction, now: datetime) -> Campaign:
        allowed, target = _TRANSITIONS[action]
        if self.status not in allowed:
            raise Conflict(f"a {self.status.value} campaign cannot {action.value}")
        if target is CampaignStatus.ACTIVE:
            self.check_runnable()
        cancels = action in (CampaignAction.PAUSE, CampaignAction.ARCHIVE)
        return replace(self, status=target, updated_at=now, epoch=self.epoch + 1 if cancels else self.epoch)

    def assign(self, user_key: str) -> Assignment:
        """The user's group: the same user always gets the same one while the variants and the
        holdout share stay as they are. Holdout and variant draw on independent hashes, so a
        changed holdout share does not reshuffle the variants."""
        if not self.variants:
            raise InvalidInput("a campaign without variants assigns nobody", field="variants")
        if self.holdout and _unit("holdout", self.id, user_key) < self.holdout:
            return Assignment(None)
        return Assignment(pick_weighted(self.variants, _unit("variant", self.id, user_key)))


def pick_weighted(variants: Sequence[Variant], point: float) -> Variant:
    """The variant whose share of the total weight covers `point` (0 <= point < 1)."""
    total = sum(variant.weight for variant in variants)
    target = point * total
    cumulative = 0
    for variant in variants:
        cumulative += variant.weight
        if target < cumulative:
            return variant
    return variants[-1]


def _unit(*parts: str) -> float:
    """A uniform number in [0, 1) determined by `parts`."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
