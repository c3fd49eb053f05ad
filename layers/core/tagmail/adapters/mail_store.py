"""DynamoDB repositories of the send path: messages, suppressions, counters, idempotency keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from pynamodb.exceptions import PynamoDBException

from tagmail.adapters.dynamodb import (
    IdempotencyItem,
    MessageItem,
    StatsItem,
    SuppressionItem,
    is_condition_failure,
    load_item,
    save_item,
    unavailable,
)
from tagmail.domain.sending import MessageRecord, MessageStatus, SendKind, StatusChange
from tagmail.domain.stats import Counter
from tagmail.domain.suppressions import Suppression, SuppressionReason
from tagmail.domain.usage import QuotaHold

# Message records outlive every report that reads them.
MESSAGE_RETENTION = timedelta(days=400)


class DynamoMessages:
    def __init__(self, model: type[MessageItem]) -> None:
        self._model = model

    def get(self, project_id: str, send_key: str) -> MessageRecord | None:
        item = load_item(self._model, f"{project_id}#{send_key}", consistent=True)
        return None if item is None else _record_from_item(item)

    def reserve(self, record: MessageRecord) -> MessageRecord | None:
        """Write the record if its send key is new (the dedupe gate before Mailgun is called)."""
        item = _item_from_record(self._model, replace(record, revision=None))
        if save_item(item, self._model.pk.does_not_exist()):
            return _record_from_item(item)
        return self._our_own_write(item)

    def save(self, record: MessageRecord) -> MessageRecord | None:
        """Write `record` if the stored one is still at the revision it was read at."""
        item = _item_from_record(self._model, record)
        return _record_from_item(item) if save_item(item) else self._our_own_write(item)

    def _our_own_write(self, item: MessageItem) -> MessageRecord | None:
        """After a refused conditional write: the stored record if it is exactly the one we wrote.
        The SDK retries a write whose answer was lost (a timeout); its retry is then refused by
        the first attempt's own success, which must not read as another writer's."""
        stored = self.get(item.project_id, item.send_key)
        if stored is None:
            return None
        written = _record_from_item(item)
        return stored if replace(stored, revision=None) == replace(written, revision=None) else None


class DynamoSuppressions:
    def __init__(self, model: type[SuppressionItem]) -> None:
        self._model = model

    def get(self, project_id: str, address: str) -> Suppression | None:
        item = _load_range(self._model, project_id, address)
        return None if item is None else _suppression_from_item(item)

    def add(self, suppression: Suppression) -> None:
        """Keep the first reason an address was suppressed for; adding again changes nothing."""
        item = self._model(
            suppression.project_id,
            suppression.address,
            reason=suppression.reason.value,
            created_at=suppression.created_at,
            detail=suppression.detail,
        )
        save_item(item, self._model.address.does_not_exist())

    def remove(self, project_id: str, address: str) -> bool:
        try:
            self._model(project_id, address).delete(condition=self._model.address.exists())
        except PynamoDBException as exc:
            if is_condition_failure(exc):
                return False
            raise unavailable(exc) from exc
        return True

    def list(self, project_id: str, after: str | None = None, limit: int = 100) -> tuple[list[Suppression], str | None]:
        try:
            result = self._model.query(
                project_id,
                limit=limit,
                last_evaluated_key={"project_id": {"S": project_id}, "address": {"S": after}} if after else None,
            )
            items = [_suppression_from_item(item) for item in result]
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        last = result.last_evaluated_key
        return items, (last["address"]["S"] if last else None)


class DynamoStats:
    def __init__(self, model: type[StatsItem]) -> None:
        self._model = model

    def add(self, project_id: str, campaign_id: str, variant: str, counts: Mapping[Counter, int]) -> None:
        actions = [getattr(self._model, counter.value).add(value) for counter, value in counts.items() if value]
        if not actions:
            return
        try:
            self._model(f"{project_id}#{campaign_id}", variant).update(actions=actions)
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def of_campaign(self, project_id: str, campaign_id: str) -> dict[str, dict[Counter, int]]:
        try:
            return {
                item.sk: {counter: int(getattr(item, counter.value) or 0) for counter in Counter}
                for item in self._model.query(f"{project_id}#{campaign_id}", consistent_read=True)
            }
        except PynamoDBException as exc:
            raise unavailable(exc) from exc


class DynamoIdempotency:
    def __init__(self, model: type[IdempotencyItem]) -> None:
        self._model = model

    def claim(self, key: str, until: datetime) -> bool:
        """True the first time `key` is claimed; False while an earlier claim is kept."""
        return save_item(self._model(key, expires_at=int(until.timestamp())), self._model.pk.does_not_exist())

    def release(self, key: str) -> None:
        try:
            self._model(key).delete()
        except PynamoDBException as exc:
            raise unavailable(exc) from exc


def _load_range(model: type[SuppressionItem], hash_key: str, range_key: str) -> SuppressionItem | None:
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except model.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise unavailable(exc) from exc


def _suppression_from_item(item: SuppressionItem) -> Suppression:
    return Suppression(
        project_id=item.project_id,
        address=item.address,
        reason=SuppressionReason(item.reason),
        created_at=item.created_at,
        detail=item.detail,
    )


def _record_from_item(item: MessageItem) -> MessageRecord:
    return MessageRecord(
        project_id=item.project_id,
        send_key=item.send_key,
        kind=SendKind(item.kind),
        status=MessageStatus(item.status),
        campaign_id=item.campaign_id,
        variant=item.variant,
        created_at=item.created_at,
        updated_at=item.updated_at,
        recipient=item.recipient,
        user_key=item.user_key,
        template_id=item.template_id,
        template_version=int(item.template_version) if item.template_version is not None else None,
        locale=item.locale,
        mailgun_id=item.mailgun_id,
        reason=item.reason,
        lease_until=item.lease_until,
        quota_hold=QuotaHold.decode(item.quota_hold) if item.quota_hold else None,
        history=tuple(
            StatusChange(MessageStatus(status), datetime.fromisoformat(at), detail)
            for status, at, detail in json.loads(item.history)
        ),
        revision=item.version,
    )


def _item_from_record(model: type[MessageItem], record: MessageRecord) -> MessageItem:
    item = model(
        f"{record.project_id}#{record.send_key}",
        project_id=record.project_id,
        send_key=record.send_key,
        kind=record.kind.value,
        status=record.status.value,
        campaign_id=record.campaign_id,
        variant=record.variant,
        created_at=record.created_at,
        updated_at=record.updated_at,
        recipient=record.recipient,
        user_key=record.user_key,
        template_id=record.template_id,
        template_version=record.template_version,
        locale=record.locale,
        mailgun_id=record.mailgun_id,
        reason=record.reason,
        lease_until=record.lease_until,
        quota_hold=record.quota_hold.encode() if record.quota_hold else None,
        history=json.dumps([[c.status.value, c.at.isoformat(), c.detail] for c in record.history]),
        expires_at=int((record.created_at + MESSAGE_RETENTION).timestamp()),
    )
    if record.revision is not None:
        item.version = record.revision
    return item
