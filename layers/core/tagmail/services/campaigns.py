"""Campaigns as admins manage them: drafts, edits, and the lifecycle (activate, pause, resume,
archive). Every variant pins a template version when it is saved, so an edited template never
changes a running campaign, and a scheduled mail carries its variant's pinned version."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from tagmail.domain.campaigns import Campaign, CampaignAction, CampaignStatus, Conversion, Variant
from tagmail.domain.triggers import TriggerRule
from tagmail.errors import Conflict, InvalidInput, NotFound
from tagmail.observability import count, logger
from tagmail.services.ports import CampaignStore, Clock, TemplateStore


@dataclass(frozen=True)
class VariantDraft:
    name: str
    template_id: str
    # None pins the template's latest version at the time the campaign is saved.
    template_version: int | None = None
    weight: int = 1


@dataclass(frozen=True)
class CampaignDraft:
    name: str
    variants: tuple[VariantDraft, ...] = ()
    holdout: float = 0.0
    default_locale: str | None = None
    conversion: Conversion = field(default_factory=Conversion)
    trigger: TriggerRule | None = None


# The parts a PATCH may replace; each one is replaced whole.
EDITABLE = frozenset({"name", "variants", "holdout", "default_locale", "conversion", "trigger"})


@dataclass(frozen=True)
class CampaignEdit:
    draft: CampaignDraft
    # The names of the parts to take from `draft` (the others stay as stored).
    fields: frozenset[str]
    # The revision the editor read; another write since makes this a Conflict.
    revision: int | None = None


@dataclass(frozen=True)
class ActionResult:
    campaign: Campaign
    # Pending delayed sends stopped by a pause or an archive.
    stopped: int = 0


class PendingSendCanceller(Protocol):
    def cancel_pending(self, project_id: str, campaign_id: str) -> int:
        """Stop the campaign's pending delayed sends; how many were stopped."""
        ...


def new_campaign_id() -> str:
    return f"c{secrets.token_hex(8)}"


class CampaignAdmin:
    def __init__(
        self,
        *,
        campaigns: CampaignStore,
        templates: TemplateStore,
        clock: Clock,
        pending: PendingSendCanceller | None = None,
    ) -> None:
        self._campaigns = campaigns
        self._templates = templates
        self._clock = clock
        self._pending = pending

    def list(self, project_id: str) -> list[Campaign]:
        return sorted(self._campaigns.list(project_id), key=lambda c: (c.created_at, c.id), reverse=True)

    def get(self, project_id: str, campaign_id: str) -> Campaign:
        campaign = self._campaigns.get(project_id, campaign_id)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        return campaign

    def create(self, project_id: str, draft: CampaignDraft) -> Campaign:
        now = self._clock()
        campaign = Campaign(
            id=new_campaign_id(),
            project_id=project_id,
            name=draft.name.strip(),
            status=CampaignStatus.DRAFT,
            created_at=now,
            updated_at=now,
            variants=self._pin(project_id, draft.variants),
            holdout=draft.holdout,
            default_locale=draft.default_locale,
            conversion=draft.conversion,
            trigger=draft.trigger,
        )
        stored = self._campaigns.add(campaign)
        count("CampaignsCreated")
        return stored

    def update(self, project_id: str, campaign_id: str, edit: CampaignEdit) -> Campaign:
        """Replace the named parts. Mails already scheduled keep what they were scheduled with."""
        current = self.get(project_id, campaign_id)
        if not current.editable:
            raise Conflict(f"campaign {campaign_id} is archived and can no longer change")
        if edit.revision is not None and edit.revision != current.revision:
            raise Conflict(f"campaign {campaign_id} is at revision {current.revision}, not {edit.revision}")
        draft = edit.draft
        changes: dict[str, Any] = {name: getattr(draft, name) for name in edit.fields & EDITABLE}
        if "name" in changes:
            changes["name"] = draft.name.strip()
        if "variants" in changes:
            changes["variants"] = self._pin(project_id, draft.variants)
        updated = replace(current, **changes, updated_at=self._clock())
        if updated.status is not CampaignStatus.DRAFT:
            updated.check_runnable()  # a running campaign must stay runnable
        return self._save(updated)

    def act(self, project_id: str, campaign_id: str, action: CampaignAction) -> ActionResult:
        current = self.get(project_id, campaign_id)
        moved = self._save(current.apply(action, self._clock()))
        stopped = 0
        if action in (CampaignAction.PAUSE, CampaignAction.ARCHIVE) and self._pending is not None:
            # What is not stopped here is still skipped by the send path: its epoch is past.
            stopped = self._pending.cancel_pending(project_id, campaign_id)
        logger().info("campaign changed", campaign_id=campaign_id, action=action.value, stopped=stopped)
        count(f"Campaigns{action.value.title()}d")
        return ActionResult(moved, stopped)

    def _save(self, campaign: Campaign) -> Campaign:
        stored = self._campaigns.save(campaign)
        if stored is None:
            raise Conflict(f"campaign {campaign.id} changed meanwhile; read it again and retry")
        return stored

    def _pin(self, project_id: str, drafts: Sequence[VariantDraft]) -> tuple[Variant, ...]:
        """Variants with their template versions pinned; each template and version must exist."""
        pinned = []
        for index, draft in enumerate(drafts):
            where = f"variants[{index}]"
            template = self._templates.get(project_id, draft.template_id)
            if template is None:
                raise InvalidInput(f"template {draft.template_id} does not exist", field=f"{where}.template_id")
            version = draft.template_version or template.latest_version
            if self._templates.get_version(project_id, draft.template_id, version) is None:
                raise InvalidInput(
                    f"template {draft.template_id} has no version {version}", field=f"{where}.template_version"
                )
            try:
                pinned.append(Variant(draft.name, draft.template_id, version, draft.weight))
            except InvalidInput as exc:
                raise InvalidInput(exc.message, field=where) from exc
        return tuple(pinned)
