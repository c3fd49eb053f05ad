"""Trigger evaluation: each stored event is matched against its project's active trigger
campaigns. An entry event puts the user into a group (a variant or the holdout), passes the
frequency caps, and becomes a send request now or a pending delayed send; an exit event stops the
user's pending sends it applies to; a conversion event converts the user's latest entry whose mail
was sent (or would have been, for the holdout) within the window. Every step is idempotent,
because the stream redelivers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tagmail.domain.campaigns import Campaign, CampaignStatus, Variant
from tagmail.domain.sending import MessageStatus, SendKind, SendRequest
from tagmail.domain.stats import Counter
from tagmail.domain.tracking import StoredEvent
from tagmail.domain.triggers import (
    CampaignEntry,
    EntryOutcome,
    TriggerRule,
    campaign_cap_key,
    daily_cap_key,
    due_at,
    entry_token,
    event_time_text,
    execution_name,
    exit_applies,
    parse_event_time,
    revenue_of,
    unique,
)
from tagmail.domain.users import UserProfile, anonymous_key, user_key
from tagmail.observability import count, logger
from tagmail.services.ports import (
    CampaignEntries,
    CampaignRepository,
    Clock,
    DelayedSends,
    FrequencyCaps,
    MessageRepository,
    ProjectRepository,
    SendQueue,
    UserRepository,
)

# How long a warm container trusts the campaigns it read: a change reaches entries within this.
CAMPAIGN_CACHE_TTL = timedelta(seconds=60)
CACHED_PROJECTS = 1000
# An entry event older than this (a late import, a replay) triggers nothing.
STALE_ENTRY = timedelta(hours=24)
# Due within this: the send queue at once, no state machine.
IMMEDIATE_WITHIN = timedelta(seconds=1)
# Entries are kept this long after their send (or entry), for conversions to find them.
ENTRY_RETENTION_AFTER_WINDOW = timedelta(days=1)
# Pending sends a pause or an archive stops in one request; the rest are skipped when due.
MAX_STOPS_PER_REQUEST = 500
# A mail in one of these reached Mailgun (and, but for a later bounce, the reader).
SENT = frozenset(
    {
        MessageStatus.ACCEPTED,
        MessageStatus.FAILED_TEMPORARY,
        MessageStatus.DELIVERED,
        MessageStatus.OPENED,
        MessageStatus.CLICKED,
        MessageStatus.COMPLAINED,
        MessageStatus.UNSUBSCRIBED,
    }
)


@dataclass(frozen=True)
class ProjectTriggers:
    time_zone: str | None
    # Active campaigns: entries and exits.
    campaigns: tuple[Campaign, ...]
    # Every campaign whose mails may still convert: the active ones, and those paused or archived
    # less than a conversion window ago.
    measured: tuple[Campaign, ...]
    loaded_at: datetime


class PendingSends:
    """Stopping pending delayed sends: for an exit event, or for a paused or archived campaign."""

    def __init__(self, *, entries: CampaignEntries, delayed: DelayedSends, caps: FrequencyCaps, clock: Clock) -> None:
        self._entries = entries
        self._delayed = delayed
        self._caps = caps
        self._clock = clock

    def cancel(self, entry: CampaignEntry, reason: str) -> bool:
        """Stop the execution, then mark the entry (counting it once) and free its caps."""
        if entry.execution_arn:
            self._delayed.stop(entry.execution_arn)
        if not self._entries.cancel(entry, reason, {Counter.CANCELLED: 1}):
            return False
        token = entry_token(entry.campaign_id, entry.entry_id)
        self._caps.release(campaign_cap_key(entry.project_id, entry.campaign_id, entry.user_key), token)
        if entry.due_at is not None:
            day = daily_cap_key(entry.project_id, entry.user_key, entry.due_at.date())
            self._caps.give_back_slot(day, token)
        count("TriggerSendsCancelled")
        return True

    def cancel_pending(self, project_id: str, campaign_id: str) -> int:
        pending = self._entries.pending_of_campaign(project_id, campaign_id, self._clock(), MAX_STOPS_PER_REQUEST)
        return sum(self.cancel(entry, "campaign_stopped") for entry in pending)


class TriggerEvaluator:
    def __init__(
        self,
        *,
        campaigns: CampaignRepository,
        projects: ProjectRepository,
        users: UserRepository,
        entries: CampaignEntries,
        caps: FrequencyCaps,
        queue: SendQueue,
        delayed: DelayedSends,
        pending: PendingSends,
        messages: MessageRepository,
        clock: Clock,
        cache_ttl: timedelta = CAMPAIGN_CACHE_TTL,
    ) -> None:
        self._campaigns = campaigns
        self._projects = projects
        self._users = users
        self._entries = entries
        self._caps = caps
        self._queue = queue
        self._delayed = delayed
        self._pending = pending
        self._messages = messages
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._cache: OrderedDict[str, ProjectTriggers] = OrderedDict()

    def evaluate(self, stored: StoredEvent) -> None:
        if stored.type != "track" or not stored.event:
            return
        triggers = self._triggers(stored.project_id)
        exiting = [c for c in triggers.campaigns if _rule(c).is_exit(stored.event)]
        entering = [c for c in triggers.campaigns if _rule(c).enters(stored.event, stored.properties)]
        converting = [c for c in triggers.measured if c.conversion.event == stored.event]
        entries = _EntriesOnce(lambda actor: self._entries.of_user(stored.project_id, actor))
        if converting:
            self._convert(stored, converting, entries)
        if exiting:
            self._exit(stored, exiting, entries)
        if entering:
            profile = _ProfileOnce(lambda: self._profile(stored.project_id, stored.actor))
            for campaign in entering:
                self._enter(stored, campaign, profile, triggers.time_zone)

    # -- entry ------------------------------------------------------------------------------------

    def _enter(self, stored: StoredEvent, campaign: Campaign, profile: _ProfileOnce, project_tz: str | None) -> None:
        rule = _rule(campaign)
        now = self._clock()
        # A client clock ahead of ours must not push the mail later.
        entered_at = min(parse_event_time(stored.ts), now)
        if entered_at < now - STALE_ENTRY:
            count("TriggerEntriesStale")
            return
        user = profile() if rule.needs_profile else None
        if rule.user_conditions and not rule.admits(_attributes(user)):
            return
        assignment = campaign.assign(stored.actor)
        due = due_at(entered_at, rule.timing, user.timezone if user else None, project_tz)
        entry = CampaignEntry(
            project_id=stored.project_id,
            campaign_id=campaign.id,
            user_key=stored.actor,
            entry_id=stored.message_id,
            group=assignment.group,
            outcome=EntryOutcome.HOLDOUT,
            entered_at=entered_at,
            exit_key_value=rule.key_value(stored.properties),
        )
        keep_until = max(due, entered_at) + campaign.conversion.window + ENTRY_RETENTION_AFTER_WINDOW
        if not self._within_caps(campaign, entry, due, mails=not assignment.holdout):
            capped = replace(entry, outcome=EntryOutcome.CAPPED)
            if self._entries.record(capped, {Counter.CAPPED: 1}, keep_until):
                count("TriggerEntriesCapped")
            return
        if assignment.variant is None:
            # Held out at the time the mail would go: exits and conversions then count alike.
            held = replace(entry, due_at=due)
            if self._entries.record(held, {Counter.ENTERED: 1, Counter.HOLDOUT: 1}, keep_until):
                count("TriggerHoldouts")
            return
        request = self._send_request(stored, campaign, assignment.variant, entry)
        if due <= now + IMMEDIATE_WITHIN:
            self._queue.enqueue(request)  # a redelivered event queues the same send key: sent once
            queued = replace(entry, outcome=EntryOutcome.QUEUED, due_at=due)
            if self._entries.record(queued, {Counter.ENTERED: 1, Counter.SCHEDULED: 1}, keep_until):
                count("TriggerSendsQueued")
            return
        name = execution_name(stored.project_id, campaign.id, stored.actor, stored.message_id)
        execution = self._delayed.start(name, due, request)  # the same name again: the same execution
        scheduled = replace(entry, outcome=EntryOutcome.SCHEDULED, due_at=due, execution_arn=execution)
        if self._entries.record(scheduled, {Counter.ENTERED: 1, Counter.SCHEDULED: 1}, keep_until):
            count("TriggerSendsScheduled")
            logger().debug("delayed send scheduled", campaign_id=campaign.id, due_at=event_time_text(due))

    def _within_caps(self, campaign: Campaign, entry: CampaignEntry, due: datetime, *, mails: bool) -> bool:
        """Take the campaign cap (the holdout too, so both groups enter alike) and, for a mail, a
        slot of the user's project-wide daily cap; what was taken is given back on refusal."""
        cap = _rule(campaign).frequency_cap
        token = entry_token(entry.campaign_id, entry.entry_id)
        campaign_key = campaign_cap_key(entry.project_id, entry.campaign_id, entry.user_key)
        if cap.period is not None and not self._caps.claim(
            campaign_key, token, self._clock(), entry.entered_at + cap.period
        ):
            return False
        if mails and cap.project_daily_limit is not None:
            day = daily_cap_key(entry.project_id, entry.user_key, due.date())
            if not self._caps.take_slot(day, token, cap.project_daily_limit, due + timedelta(days=2)):
                if cap.period is not None:
                    self._caps.release(campaign_key, token)
                return False
        return True

    def _send_request(
        self, stored: StoredEvent, campaign: Campaign, variant: Variant, entry: CampaignEntry
    ) -> SendRequest:
        """Everything the send needs, fixed now: a later edit of the campaign does not change it."""
        rule = _rule(campaign)
        return SendRequest(
            project_id=stored.project_id,
            kind=SendKind.MARKETING,
            template_id=variant.template_id,
            occurrence=stored.message_id,
            campaign_id=campaign.id,
            variant=variant.name,
            template_version=variant.template_version,
            user_key=stored.actor,
            event={"name": stored.event, "properties": dict(stored.properties), "timestamp": stored.ts},
            default_locale=campaign.default_locale,
            entered_at=event_time_text(entry.entered_at),
            exit_events=list(rule.exit_events) or None,
            exit_key_property=rule.exit_key_property,
            exit_key_value=entry.exit_key_value,
            campaign_epoch=campaign.epoch,
        )

    # -- exit -------------------------------------------------------------------------------------

    def _exit(self, stored: StoredEvent, campaigns: list[Campaign], entries: _EntriesOnce) -> None:
        """Stop the pending sends of this user (known by either of the event's ids) that the exit
        event applies to: entered no later than it, of a campaign it exits, with the same key.
        Holdout entries still waiting leave the same way, so both groups are measured alike."""
        now = self._clock()
        exit_time = parse_event_time(stored.ts)
        by_id = {campaign.id: campaign for campaign in campaigns}
        for actor in _actors(stored):
            for entry in entries(actor):
                campaign = by_id.get(entry.campaign_id)
                if campaign is None or not entry.is_waiting(now) or entry.entered_at > exit_time:
                    continue
                if exit_applies(entry.exit_key_value, _rule(campaign).exit_key_property, stored.properties):
                    self._pending.cancel(entry, "exited")

    # -- conversion -------------------------------------------------------------------------------

    def _convert(self, stored: StoredEvent, campaigns: list[Campaign], entries: _EntriesOnce) -> None:
        """Per campaign, the user's latest entry whose mail went out (or, held out, would have)
        within the conversion window before this event converts, with the event's revenue."""
        at = parse_event_time(stored.ts)
        by_id = {campaign.id: campaign for campaign in campaigns}
        mine = [entry for actor in _actors(stored) for entry in entries(actor) if entry.campaign_id in by_id]
        for campaign_id, campaign in by_id.items():
            own = [entry for entry in mine if entry.campaign_id == campaign_id]
            if any(entry.converted_by == stored.message_id for entry in own):
                continue  # this event converted here already (a redelivery)
            window = campaign.conversion.window
            candidates = sorted(
                (entry for entry in own if entry.converts_at(at, window)),
                key=lambda entry: entry.measured_from or entry.entered_at,
                reverse=True,
            )
            for entry in candidates:
                if entry.outcome is EntryOutcome.HOLDOUT or self._was_sent(entry):
                    revenue = revenue_of(stored.properties, campaign.conversion.revenue_property)
                    if self._entries.convert(entry, stored.message_id, at, revenue, {Counter.CONVERTED: 1}):
                        count("TriggerConversions")
                    break

    def _was_sent(self, entry: CampaignEntry) -> bool:
        # The entry's send request has these fields, and so this send key.
        key = SendRequest(
            project_id=entry.project_id,
            kind=SendKind.MARKETING,
            template_id="",
            occurrence=entry.entry_id,
            campaign_id=entry.campaign_id,
            user_key=entry.user_key,
        ).send_key
        record = self._messages.get(entry.project_id, key)
        return record is not None and record.status in SENT

    # -- reads ------------------------------------------------------------------------------------

    def _triggers(self, project_id: str) -> ProjectTriggers:
        now = self._clock()
        cached = self._cache.get(project_id)
        if cached is not None and now - cached.loaded_at < self._cache_ttl:
            return cached
        project = self._projects.get(project_id)
        triggers = [c for c in self._campaigns.list(project_id) if c.trigger is not None and c.variants]
        active = tuple(c for c in triggers if c.status is CampaignStatus.ACTIVE)
        measured = tuple(
            c
            for c in triggers
            if c.status is CampaignStatus.ACTIVE
            or (c.status is not CampaignStatus.DRAFT and now - c.updated_at <= c.conversion.window)
        )
        loaded = ProjectTriggers(project.settings.timezone if project else None, active, measured, now)
        self._cache[project_id] = loaded
        self._cache.move_to_end(project_id)
        while len(self._cache) > CACHED_PROJECTS:
            self._cache.popitem(last=False)
        return loaded

    def _profile(self, project_id: str, actor: str) -> UserProfile | None:
        profile = self._users.get(project_id, actor)
        if profile is not None and profile.alias_of is not None:
            return self._users.get(project_id, user_key(profile.alias_of))
        return profile


class _EntriesOnce:
    """A user's entries, read on first use only, once per event and actor."""

    def __init__(self, read: Callable[[str], list[CampaignEntry]]) -> None:
        self._read = read
        self._entries: dict[str, list[CampaignEntry]] = {}

    def __call__(self, actor: str) -> list[CampaignEntry]:
        if actor not in self._entries:
            self._entries[actor] = self._read(actor)
        return self._entries[actor]


def _actors(stored: StoredEvent) -> tuple[str, ...]:
    """The ids the event's user is known by: its actor, and the anonymous id it carried too."""
    alias = anonymous_key(stored.anonymous_id) if stored.anonymous_id else None
    return unique([stored.actor, alias])


class _ProfileOnce:
    """The event's user profile, read on first use only, and at most once per event."""

    def __init__(self, read: Callable[[], UserProfile | None]) -> None:
        self._read = read
        self._done = False
        self._profile: UserProfile | None = None

    def __call__(self) -> UserProfile | None:
        if not self._done:
            self._profile = self._read()
            self._done = True
        return self._profile


def _rule(campaign: Campaign) -> TriggerRule:
    assert campaign.trigger is not None  # only trigger campaigns are evaluated
    return campaign.trigger


def _attributes(profile: UserProfile | None) -> Mapping[str, Any]:
    if profile is None:
        return {}
    return {**profile.attributes, "locale": profile.locale, "timezone": profile.timezone}
