"""What the admin API reads back: a campaign's counters, one message's history, one user."""

from __future__ import annotations

from dataclasses import dataclass

from tagmail.domain.sending import MessageRecord
from tagmail.domain.stats import Counter
from tagmail.domain.users import UserProfile, user_key
from tagmail.errors import NotFound
from tagmail.services.ports import CampaignStats, MessageRepository, UserRepository


@dataclass(frozen=True)
class CampaignCounters:
    campaign_id: str
    variants: dict[str, dict[Counter, int]]

    @property
    def totals(self) -> dict[Counter, int]:
        return {counter: sum(row.get(counter, 0) for row in self.variants.values()) for counter in Counter}


class Reports:
    def __init__(self, *, stats: CampaignStats, messages: MessageRepository, users: UserRepository) -> None:
        self._stats = stats
        self._messages = messages
        self._users = users

    def campaign(self, project_id: str, campaign_id: str) -> CampaignCounters:
        # A campaign nobody was sent to yet has no counters: all zero, not "not found".
        return CampaignCounters(campaign_id, self._stats.of_campaign(project_id, campaign_id))

    def message(self, project_id: str, send_key: str) -> MessageRecord:
        record = self._messages.get(project_id, send_key)
        if record is None:
            raise NotFound(f"no message with send key {send_key}")
        return record

    def user(self, project_id: str, user_id: str) -> UserProfile:
        profile = self._users.get(project_id, user_key(user_id), consistent=True)
        if profile is None:
            raise NotFound(f"user {user_id} does not exist")
        return profile
