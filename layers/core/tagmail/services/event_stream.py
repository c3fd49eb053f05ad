"""Consuming stored events from the events table's stream (trigger evaluation starts here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tagmail.domain.tracking import StoredEvent
from tagmail.observability import count, logger
from tagmail.services.triggers import TriggerEvaluator


class EventStreamConsumer:
    """Every stored event is counted and evaluated against the project's trigger campaigns."""

    def __init__(
        self, decode: Callable[[Mapping[str, Any]], StoredEvent], evaluator: TriggerEvaluator | None = None
    ) -> None:
        # How a stream record's image becomes an event is the store's business (an adapter's).
        self._decode = decode
        self._evaluator = evaluator

    def consume_image(self, image: Mapping[str, Any]) -> None:
        self.consume(self._decode(image))

    def consume(self, stored: StoredEvent) -> None:
        logger().debug("event received", project_id=stored.project_id, type=stored.type, event=stored.event)
        count("StreamEventsConsumed")
        if self._evaluator is not None:
            self._evaluator.evaluate(stored)
