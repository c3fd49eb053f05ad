"""A user's stored events read back by name and time: what the send path checks before a trigger
mail (did an exit event happen since the entry?)."""

from __future__ import annotations

import json
from collections.abc import Collection

from pynamodb.exceptions import PynamoDBException

from tagmail.adapters.dynamodb import EventItem, unavailable
from tagmail.domain.tracking import StoredEvent


class DynamoEventHistory:
    def __init__(self, model: type[EventItem]) -> None:
        self._model = model

    def since(self, project_id: str, actor: str, names: Collection[str], since: str) -> list[StoredEvent]:
        """The actor's track events named in `names` stamped at or after `since` (stored ISO text).

        The sort key is the message id, not the time, so this reads the actor's partition and
        filters; a user's events are few, and only trigger mails with exit events ask."""
        if not names:
            return []
        model = self._model
        condition = model.event.is_in(*names) & (model.ts >= since)
        try:
            return [
                StoredEvent(
                    project_id=project_id,
                    actor=actor,
                    message_id=item.sk.removeprefix("m:"),
                    type=item.type,
                    event=item.event,
                    ts=item.ts,
                    anonymous_id=item.anonymous_id,
                    properties=_properties(item.payload),
                )
                for item in model.query(f"{project_id}#{actor}", filter_condition=condition, consistent_read=True)
            ]
        except PynamoDBException as exc:
            raise unavailable(exc) from exc


def _properties(payload: str) -> dict[str, object]:
    try:
        document = json.loads(payload)
    except ValueError:
        return {}
    properties = document.get("properties") if isinstance(document, dict) else None
    return properties if isinstance(properties, dict) else {}
