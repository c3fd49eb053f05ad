"""Campaigns in DynamoDB (pk = project, sk = campaign id; the campaign as a JSON document beside
what readers filter on), their entries (pk = "<project>#<user key>", sk = "<campaign>#<entry id>")
and the frequency caps (items of the idempotency table)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any, TypeVar

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from tagmail.adapters.dynamodb import (
    StatsItem,
    bind_model,
    is_condition_failure,
    save_item,
    transaction_connection,
    unavailable,
)
from tagmail.domain.campaigns import Campaign, CampaignStatus, Conversion, Variant
from tagmail.domain.stats import Counter
from tagmail.domain.triggers import (
    CampaignEntry,
    Condition,
    EntryOutcome,
    FrequencyCap,
    Operator,
    QuietHours,
    Timing,
    TimingKind,
    TriggerRule,
    event_time_text,
)
from tagmail.errors import Conflict

M = TypeVar("M", bound=Model)


# Bound like every item model (bootstrap imports it from here with the models).
bind = bind_model


class CampaignItem(Model):
    project_id = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    epoch = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    # Variants, holdout, locale, conversion and the trigger part, as JSON.
    document = UnicodeAttribute()
    version = VersionAttribute()


class DynamoCampaigns:
    def __init__(self, model: type[CampaignItem]) -> None:
        self._model = model

    def get(self, project_id: str, campaign_id: str) -> Campaign | None:
        try:
            item = self._model.get(project_id, campaign_id, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return campaign_from_item(item)

    def list(self, project_id: str, status: CampaignStatus | None = None) -> list[Campaign]:
        condition = self._model.status == status.value if status is not None else None
        try:
            return [campaign_from_item(item) for item in self._model.query(project_id, filter_condition=condition)]
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def add(self, campaign: Campaign) -> Campaign:
        item = self._item(campaign, None)
        if not save_item(item, self._model.campaign_id.does_not_exist()):
            raise Conflict(f"campaign {campaign.id} exists already")
        return replace(campaign, revision=item.version)

    def save(self, campaign: Campaign) -> Campaign | None:
        """Write if the stored campaign is still at the revision it was read at; the stored
        campaign, or None when another writer moved it on."""
        item = self._item(campaign, campaign.revision)
        return replace(campaign, revision=item.version) if save_item(item) else None

    def _item(self, campaign: Campaign, revision: int | None) -> CampaignItem:
        item = self._model(
            campaign.project_id,
            campaign.id,
            name=campaign.name,
            status=campaign.status.value,
            epoch=campaign.epoch,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
            document=json.dumps(campaign_document(campaign), separators=(",", ":"), ensure_ascii=False),
        )
        if revision is not None:
            item.version = revision
        return item


# -- entries ------------------------------------------------------------------------------------


class EntriesByCampaign(GlobalSecondaryIndex["CampaignEntryItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_campaign"
        projection = AllProjection()

    pending_campaign = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)


class CampaignEntryItem(Model):
    pk = UnicodeAttribute(hash_key=True)  # "<project>#<user key>"
    sk = UnicodeAttribute(range_key=True)  # "<campaign>#<entry id>"
    project_id = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    user_key = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    group = UnicodeAttribute()
    outcome = UnicodeAttribute()
    entered_at = UTCDateTimeAttribute()
    due_at = UnicodeAttribute(null=True)  # ISO 8601 UTC text: sorts by time in the index
    execution_arn = UnicodeAttribute(null=True)
    exit_key_value = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    # "<project>#<campaign>" while a send is pending: only those are in the by_campaign index.
    pending_campaign = UnicodeAttribute(null=True)
    converted_at = UTCDateTimeAttribute(null=True)
    converted_by = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()
    by_campaign: EntriesByCampaign


class DynamoCampaignEntries:
    """Each entry is written once, together with its counters in one transaction: a redelivered
    event finds its entry written and counts nothing twice."""

    def __init__(self, model: type[CampaignEntryItem], stats: type[StatsItem]) -> None:
        self._model = model
        self._stats = stats

    def record(self, entry: CampaignEntry, counts: Mapping[Counter, int], expires_at: datetime) -> bool:
        """Write the entry and add its counts; False when the entry was written before."""
        item = self._model(
            f"{entry.project_id}#{entry.user_key}",
            f"{entry.campaign_id}#{entry.entry_id}",
            project_id=entry.project_id,
            campaign_id=entry.campaign_id,
            user_key=entry.user_key,
            entry_id=entry.entry_id,
            group=entry.group,
            outcome=entry.outcome.value,
            entered_at=entry.entered_at,
            due_at=event_time_text(entry.due_at) if entry.due_at else None,
            execution_arn=entry.execution_arn,
            exit_key_value=entry.exit_key_value,
            reason=entry.reason,
            pending_campaign=(
                f"{entry.project_id}#{entry.campaign_id}" if entry.outcome is EntryOutcome.SCHEDULED else None
            ),
            expires_at=int(expires_at.timestamp()),
        )
        return self._transact(entry, counts, lambda t: t.save(item, condition=self._model.pk.does_not_exist()))

    def of_user(self, project_id: str, user_key: str) -> list[CampaignEntry]:
        try:
            return [
                _entry_from_item(item) for item in self._model.query(f"{project_id}#{user_key}", consistent_read=True)
            ]
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def pending_of_campaign(
        self, project_id: str, campaign_id: str, after: datetime, limit: int
    ) -> list[CampaignEntry]:
        """Entries of the campaign whose send is still pending (due after `after`), soonest first."""
        try:
            found = self._model.by_campaign.query(
                f"{project_id}#{campaign_id}", self._model.due_at > event_time_text(after), limit=limit
            )
            return [_entry_from_item(item) for item in found]
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def cancel(self, entry: CampaignEntry, reason: str, counts: Mapping[Counter, int]) -> bool:
        """Mark a scheduled (or held-out) entry cancelled and add its counts; False if it was not."""
        item = self._model(f"{entry.project_id}#{entry.user_key}", f"{entry.campaign_id}#{entry.entry_id}")
        actions = [
            self._model.outcome.set(EntryOutcome.CANCELLED.value),
            self._model.reason.set(reason),
            self._model.pending_campaign.remove(),
        ]
        condition = self._model.outcome.is_in(EntryOutcome.SCHEDULED.value, EntryOutcome.HOLDOUT.value)
        return self._transact(entry, counts, lambda t: t.update(item, actions=actions, condition=condition))

    def convert(
        self, entry: CampaignEntry, by: str, at: datetime, revenue: float, counts: Mapping[Counter, int]
    ) -> bool:
        """Note the entry's conversion (by event `by`) and add its counts and revenue; False if it
        converted before."""
        item = self._model(f"{entry.project_id}#{entry.user_key}", f"{entry.campaign_id}#{entry.entry_id}")
        measured = (EntryOutcome.QUEUED.value, EntryOutcome.SCHEDULED.value, EntryOutcome.HOLDOUT.value)
        condition = self._model.converted_at.does_not_exist() & self._model.outcome.is_in(*measured)
        actions = [self._model.converted_at.set(at), self._model.converted_by.set(by)]
        return self._transact(
            entry, counts, lambda t: t.update(item, actions=actions, condition=condition), revenue=revenue
        )

    def _transact(self, entry: CampaignEntry, counts: Mapping[Counter, int], write: Any, revenue: float = 0) -> bool:
        counters = [getattr(self._stats, counter.value).add(value) for counter, value in counts.items() if value]
        if revenue:
            counters.append(self._stats.revenue.add(revenue))
        try:
            with TransactWrite(connection=transaction_connection(self._model)) as transaction:
                write(transaction)
                if counters:
                    stats = self._stats(f"{entry.project_id}#{entry.campaign_id}", entry.group)
                    transaction.update(stats, actions=counters)
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                return False
            raise unavailable(exc) from exc
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return True


def _entry_from_item(item: CampaignEntryItem) -> CampaignEntry:
    return CampaignEntry(
        project_id=item.project_id,
        campaign_id=item.campaign_id,
        user_key=item.user_key,
        entry_id=item.entry_id,
        group=item.group,
        outcome=EntryOutcome(item.outcome),
        entered_at=item.entered_at,
        due_at=datetime.fromisoformat(item.due_at.replace("Z", "+00:00")) if item.due_at else None,
        execution_arn=item.execution_arn,
        exit_key_value=item.exit_key_value,
        reason=item.reason,
        converted_at=item.converted_at,
        converted_by=item.converted_by,
    )


class DynamoCampaignFigures:
    """A campaign's counters per group (variant or holdout), with the revenue of its conversions."""

    def __init__(self, stats: type[StatsItem]) -> None:
        self._stats = stats

    def of_campaign(self, project_id: str, campaign_id: str) -> dict[str, dict[str, float]]:
        try:
            rows = self._stats.query(f"{project_id}#{campaign_id}", consistent_read=True)
            return {
                row.sk: {
                    **{counter.value: float(getattr(row, counter.value) or 0) for counter in Counter},
                    "revenue": float(row.revenue or 0),
                }
                for row in rows
            }
        except PynamoDBException as exc:
            raise unavailable(exc) from exc


# -- frequency caps -----------------------------------------------------------------------------


class CapItem(Model):
    """An item of the idempotency table: a campaign cap names the entry holding it; a daily cap
    holds the entries counted that day. Expired ones count as free (TTL deletes late, if ever)."""

    pk = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute()
    holder = UnicodeAttribute(null=True)
    entries = UnicodeSetAttribute(null=True)


class DynamoFrequencyCaps:
    def __init__(self, model: type[CapItem]) -> None:
        self._model = model

    def claim(self, key: str, holder: str, now: datetime, until: datetime) -> bool:
        """Hold `key` for `holder` until `until`: True if it was free, expired, or held by `holder`."""
        item = self._model(key, expires_at=int(until.timestamp()), holder=holder)
        free = (
            self._model.pk.does_not_exist()
            | (self._model.expires_at <= int(now.timestamp()))
            | (self._model.holder == holder)
        )
        return save_item(item, free)

    def release(self, key: str, holder: str) -> None:
        try:
            self._model(key).delete(condition=self._model.holder == holder)
        except PynamoDBException as exc:
            if not is_condition_failure(exc):
                raise unavailable(exc) from exc

    def take_slot(self, key: str, member: str, limit: int, until: datetime) -> bool:
        """Count `member` under `key` unless `limit` others are counted; counted again is True."""
        entries = self._model.entries
        room = entries.does_not_exist() | (size(entries) < limit) | entries.contains(member)  # type: ignore[no-untyped-call]
        try:
            self._model(key).update(
                actions=[entries.add({member}), self._model.expires_at.set(int(until.timestamp()))], condition=room
            )
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise unavailable(exc) from exc
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return True

    def give_back_slot(self, key: str, member: str) -> None:
        try:
            self._model(key).update(actions=[self._model.entries.delete({member})], condition=self._model.pk.exists())
        except PynamoDBException as exc:
            if not is_condition_failure(exc):
                raise unavailable(exc) from exc


# -- explicit mapping between the campaign and its stored document ------------------------------


def campaign_document(campaign: Campaign) -> dict[str, Any]:
    return {
        "variants": [
            {"name": v.name, "template_id": v.template_id, "template_version": v.template_version, "weight": v.weight}
            for v in campaign.variants
        ],
        "holdout": campaign.holdout,
        "default_locale": campaign.default_locale,
        "conversion": {
            "event": campaign.conversion.event,
            "window_seconds": int(campaign.conversion.window.total_seconds()),
            "revenue_property": campaign.conversion.revenue_property,
        },
        "trigger": _trigger_document(campaign.trigger) if campaign.trigger else None,
    }


def _trigger_document(rule: TriggerRule) -> dict[str, Any]:
    timing = rule.timing
    cap = rule.frequency_cap
    return {
        "entry_event": rule.entry_event,
        "event_conditions": [_condition_document(c) for c in rule.event_conditions],
        "user_conditions": [_condition_document(c) for c in rule.user_conditions],
        "exit_events": list(rule.exit_events),
        "exit_key_property": rule.exit_key_property,
        "timing": {
            "kind": timing.kind.value,
            "delay_seconds": int(timing.delay.total_seconds()),
            "days": timing.days,
            "at": timing.at.strftime("%H:%M") if timing.at else None,
            "quiet_hours": (
                {"start": timing.quiet_hours.start.strftime("%H:%M"), "end": timing.quiet_hours.end.strftime("%H:%M")}
                if timing.quiet_hours
                else None
            ),
        },
        "frequency_cap": {
            "period_seconds": int(cap.period.total_seconds()) if cap.period else None,
            "project_daily_limit": cap.project_daily_limit,
        },
    }


def _condition_document(condition: Condition) -> dict[str, Any]:
    value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
    return {"field": condition.field, "op": condition.operator.value, "value": value}


def campaign_from_item(item: CampaignItem) -> Campaign:
    document = json.loads(item.document)
    conversion = document.get("conversion") or {}
    trigger = document.get("trigger")
    return Campaign(
        id=item.campaign_id,
        project_id=item.project_id,
        name=item.name,
        status=CampaignStatus(item.status),
        created_at=item.created_at,
        updated_at=item.updated_at,
        variants=tuple(
            Variant(
                name=v["name"], template_id=v["template_id"], template_version=v["template_version"], weight=v["weight"]
            )
            for v in document.get("variants", [])
        ),
        holdout=float(document.get("holdout", 0.0)),
        default_locale=document.get("default_locale"),
        conversion=Conversion(
            event=conversion.get("event", "purchase"),
            window=timedelta(seconds=conversion.get("window_seconds", 7 * 86400)),
            revenue_property=conversion.get("revenue_property"),
        ),
        trigger=_trigger_from_document(trigger) if trigger else None,
        epoch=int(item.epoch or 0),
        revision=item.version,
    )


def _trigger_from_document(document: dict[str, Any]) -> TriggerRule:
    timing = document.get("timing") or {}
    quiet = timing.get("quiet_hours")
    quiet_hours = QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"])) if quiet else None
    cap = document.get("frequency_cap") or {}
    period = cap.get("period_seconds")
    return TriggerRule(
        entry_event=document["entry_event"],
        event_conditions=tuple(_condition_from_document(c) for c in document.get("event_conditions", [])),
        user_conditions=tuple(_condition_from_document(c) for c in document.get("user_conditions", [])),
        exit_events=tuple(document.get("exit_events", [])),
        exit_key_property=document.get("exit_key_property"),
        timing=Timing(
            kind=TimingKind(timing.get("kind", TimingKind.IMMEDIATE.value)),
            delay=timedelta(seconds=timing.get("delay_seconds", 0)),
            days=timing.get("days", 0),
            at=time.fromisoformat(timing["at"]) if timing.get("at") else None,
            quiet_hours=quiet_hours,
        ),
        frequency_cap=FrequencyCap(
            period=timedelta(seconds=period) if period is not None else None,
            project_daily_limit=cap.get("project_daily_limit"),
        ),
    )


def _condition_from_document(document: dict[str, Any]) -> Condition:
    return Condition(field=document["field"], operator=Operator(document["op"]), value=document.get("value"))
