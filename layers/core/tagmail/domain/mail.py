"""A mail ready to hand to the provider: addresses, content, headers, tracking and our own ids."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Envelope:
    domain: str
    sender_name: str | None
    sender_address: str
    to: str
    subject: str
    html: str
    text: str
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # Our ids, carried through the provider and back in its webhooks.
    variables: dict[str, str] = field(default_factory=dict)
    track_clicks: bool = True
    track_opens: bool = True
