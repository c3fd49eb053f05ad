"""Schedule test handler: remembers the events it got."""

from typing import Any

EVENTS: list[Any] = []


def handler(event: Any, context: Any) -> dict[str, Any]:
    EVENTS.append(event)
    return {"handled": event}
