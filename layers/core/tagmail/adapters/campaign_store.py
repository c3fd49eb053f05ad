"""Campaigns in DynamoDB: pk = project, sk = campaign id; the campaign itself as a JSON document
beside the attributes a reader filters on (status)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import time, timedelta
from typing import Any, TypeVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute, VersionAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from tagmail.adapters.dynamodb import save_item, unavailable
from tagmail.config import Config
from tagmail.domain.campaigns import Campaign, CampaignStatus, Conversion, Variant
from tagmail.domain.triggers import (
    Condition,
    FrequencyCap,
    Operator,
    QuietHours,
    Timing,
    TimingKind,
    TriggerRule,
)
from tagmail.errors import Conflict

M = TypeVar("M", bound=Model)


def bind(model: type[M], table_name: str, config: Config) -> type[M]:
    """The item model bound to its table (names are known only at run time)."""
    meta = type(
        "Meta",
        (),
        {
            "table_name": table_name,
            "region": config.region,
            "host": config.aws_endpoint_url,
            "connect_timeout_seconds": 2,
            "read_timeout_seconds": 5,
            "max_retry_attempts": 3,
        },
    )
    return type(model.__name__, (model,), {"Meta": meta})


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
