"""What the send path checks again just before a trigger mail goes out, so that a late or lost
StopExecution (or a pause that could not stop everything) never sends a wrong mail."""

from __future__ import annotations

from tagmail.domain.campaigns import CampaignStatus
from tagmail.domain.sending import SendRequest
from tagmail.domain.triggers import exit_applies, unique
from tagmail.domain.users import UserProfile
from tagmail.services.ports import CampaignRepository, EventHistory


class TriggerRecheck:
    def __init__(self, *, campaigns: CampaignRepository, history: EventHistory) -> None:
        self._campaigns = campaigns
        self._history = history

    def skip_reason(self, request: SendRequest, profile: UserProfile | None) -> str | None:
        """Why this trigger mail must not go now, or None. `profile` is the recipient's, which for
        an anonymous entry is the user the visitor has since been identified as."""
        if request.campaign_epoch is not None:
            campaign = self._campaigns.get(request.project_id, request.campaign_id)
            if campaign is None:
                return "campaign_missing"
            if campaign.status is not CampaignStatus.ACTIVE:
                return f"campaign_{campaign.status.value}"
            if campaign.epoch != request.campaign_epoch:
                return "campaign_paused"  # paused (and resumed) since this mail was scheduled
        if request.exit_events and request.entered_at:
            for actor in unique([request.user_key, profile.key if profile else None]):
                for event in self._history.since(request.project_id, actor, request.exit_events, request.entered_at):
                    if exit_applies(request.exit_key_value, request.exit_key_property, event.properties):
                        return "exited"
        return None
