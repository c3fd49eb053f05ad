"""DynamoDB sending counts: one item per project and period, changed only with atomic ADDs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import PynamoDBException, UpdateError

from tagmail.adapters.dynamodb import UsageItem, is_condition_failure, unavailable


class DynamoUsage:
    def __init__(self, model: type[UsageItem]) -> None:
        self._model = model

    def add(self, project_id: str, period: str, count: int, *, at_most: int | None, expires_at: datetime) -> int | None:
        model = self._model
        condition = None
        if at_most is not None:
            if count > at_most:
                return None
            # One conditional ADD: DynamoDB applies it atomically, so concurrent senders can never
            # all pass the same check and together go past the bound.
            condition = model.sent.does_not_exist() | (model.sent <= at_most - count)
        item = model(project_id, period)
        try:
            item.update(
                actions=[model.sent.add(count), model.expires_at.set(int(expires_at.timestamp()))], condition=condition
            )
        except UpdateError as exc:
            if is_condition_failure(exc):
                return None
            raise unavailable(exc) from exc
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return int(item.sent or 0)

    def subtract(self, project_id: str, period: str, count: int) -> None:
        try:
            self._model(project_id, period).update(actions=[self._model.sent.add(-count)])
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def sent(self, project_id: str, first: str, last: str) -> dict[str, int]:
        try:
            return {
                item.sk: int(item.sent or 0)
                for item in self._model.query(project_id, self._model.sk.between(first, last), consistent_read=True)
            }
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def notices(self, project_id: str, month_period: str) -> dict[int, datetime]:
        item = _load(self._model, project_id, month_period)
        if item is None:
            return {}
        noted = {90: item.notice_90_at, 100: item.notice_100_at}
        return {percent: at for percent, at in noted.items() if at is not None}

    def mark_notice(self, project_id: str, month_period: str, percent: int, at: datetime) -> None:
        attribute: Any = {90: self._model.notice_90_at, 100: self._model.notice_100_at}[percent]
        try:
            self._model(project_id, month_period).update(actions=[attribute.set(attribute | at)])
        except PynamoDBException as exc:
            raise unavailable(exc) from exc


def _load(model: type[UsageItem], project_id: str, period: str) -> UsageItem | None:
    try:
        return model.get(project_id, period, consistent_read=True)
    except model.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise unavailable(exc) from exc
