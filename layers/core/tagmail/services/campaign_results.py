"""What a campaign earns, per variant and for the holdout: entries, sends, the webhooks' opens and
clicks, conversions and their revenue, and each variant's lift over the holdout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tagmail.domain.campaigns import HOLDOUT, Campaign
from tagmail.domain.stats import Counter
from tagmail.errors import NotFound
from tagmail.services.ports import CampaignFigures, CampaignRepository


@dataclass(frozen=True)
class GroupResult:
    group: str
    entered: int
    scheduled: int
    cancelled: int
    capped: int
    sent: int
    delivered: int
    unique_opened: int
    unique_clicked: int
    converted: int
    revenue: float

    @property
    def holdout(self) -> bool:
        return self.group == HOLDOUT

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per user entered: the holdout's rate is what the mail is measured against."""
        return self.converted / self.entered if self.entered else None

    @property
    def revenue_per_entry(self) -> float | None:
        return self.revenue / self.entered if self.entered else None

    @classmethod
    def of(cls, group: str, row: Mapping[str, float]) -> GroupResult:
        def number(counter: Counter) -> int:
            return int(row.get(counter.value, 0))

        return cls(
            group=group,
            entered=number(Counter.ENTERED),
            scheduled=number(Counter.SCHEDULED),
            cancelled=number(Counter.CANCELLED),
            capped=number(Counter.CAPPED),
            sent=number(Counter.ACCEPTED),
            delivered=number(Counter.DELIVERED),
            unique_opened=number(Counter.UNIQUE_OPENED),
            unique_clicked=number(Counter.UNIQUE_CLICKED),
            converted=number(Counter.CONVERTED),
            revenue=float(row.get("revenue", 0.0)),
        )


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    groups: tuple[GroupResult, ...]

    def lift(self, result: GroupResult) -> float | None:
        """How much more often a variant's users converted than the holdout's (0.25: 25 % more);
        None without a holdout that converted."""
        held = next((group for group in self.groups if group.holdout), None)
        if result.holdout or held is None or not held.conversion_rate or result.conversion_rate is None:
            return None
        return result.conversion_rate / held.conversion_rate - 1


class CampaignResultsService:
    def __init__(self, *, campaigns: CampaignRepository, figures: CampaignFigures) -> None:
        self._campaigns = campaigns
        self._figures = figures

    def results(self, project_id: str, campaign_id: str) -> CampaignResults:
        campaign = self._campaigns.get(project_id, campaign_id)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        rows = self._figures.of_campaign(project_id, campaign_id)
        # The current variants in their order, then any a later edit removed, then the holdout.
        names = [variant.name for variant in campaign.variants]
        names += sorted(name for name in rows if name not in names and name != HOLDOUT)
        if campaign.holdout or HOLDOUT in rows:
            names.append(HOLDOUT)
        return CampaignResults(campaign, tuple(GroupResult.of(name, rows.get(name, {})) for name in names))
