"""What happens to a recipient after the sandbox accepts a message: scripted by the local part.

The prefix before the first ``+`` of the recipient's local part picks the outcome (case does not
matter; ``bounce+alice@example.com``, ``Bounce+1@shop.test``). Every recipient first gets an
``accepted`` event; then:

=================  ===========================================================================
local part         events after ``accepted``
=================  ===========================================================================
(anything else)    ``delivered`` (250)
``bounce+…``       ``failed``, severity permanent, reason ``bounce``, code 550 (5.1.1); the
                   address is added to the domain's ``bounces`` table
``soft+…``         ``failed``, severity temporary, code 452 (4.2.2), then ``delivered`` on the
                   second attempt
``tempfail+…``     ``failed``, severity temporary, code 452, then ``failed`` permanent, reason
                   ``old``, code 602 ("Too old": retries ran out); no suppression is added
``complain+…``     ``delivered``, then ``complained``; the address is added to ``complaints``
``open+…``         ``delivered``, then ``opened``
``click+…``        ``delivered``, ``opened``, then ``clicked`` with the first link of the HTML part
``unsub+…``        ``delivered``, then ``unsubscribed``; the address is added to
                   ``unsubscribes`` (tag ``*``)
=================  ===========================================================================

Before any of that, a recipient on the domain's suppression lists is dropped: ``failed``,
permanent, reason ``suppress-bounce`` (605), ``suppress-unsubscribe`` (606) or
``suppress-complaint`` (607), checked in that order. ``o:testmode=yes`` turns every other outcome
into ``delivered`` with code 650 and no engagement events.

``opened`` and ``clicked`` honour tracking: ``o:tracking``/``o:tracking-opens``/``o:tracking-clicks``
(``htmlonly`` counts as on), else the domain's tracking settings (both on by default). No
``opened`` when open tracking is off; no ``clicked`` when click tracking is off or the HTML part
has no link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from html import unescape


class Outcome(StrEnum):
    DELIVER = "deliver"
    BOUNCE = "bounce"
    SOFT = "soft"
    TEMPFAIL = "tempfail"
    COMPLAIN = "complain"
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsub"


_PREFIXES = {outcome.value: outcome for outcome in Outcome if outcome is not Outcome.DELIVER}


def outcome_for(address: str) -> Outcome:
    """The scripted outcome for an address, from the prefix of its local part."""
    local = address.rpartition("@")[0]
    prefix, plus, _ = local.partition("+")
    if not plus:
        return Outcome.DELIVER
    return _PREFIXES.get(prefix.lower(), Outcome.DELIVER)


@dataclass(frozen=True)
class Step:
    """One event the outcome produces, in order."""

    event: str  # delivered, failed, opened, clicked, unsubscribed, complained
    severity: str | None = None  # failed only: temporary or permanent
    reason: str | None = None  # failed only
    code: int | None = None
    attempt: int = 1


def steps(outcome: Outcome, *, opens: bool, clicks: bool, has_link: bool) -> list[Step]:
    delivered = Step("delivered", code=250)
    opened = [Step("opened")] if opens else []
    clicked = [Step("clicked")] if clicks and has_link else []
    plans = {
        Outcome.BOUNCE: [Step("failed", "permanent", "bounce", 550)],
        Outcome.SOFT: [Step("failed", "temporary", "generic", 452), Step("delivered", code=250, attempt=2)],
        Outcome.TEMPFAIL: [Step("failed", "temporary", "generic", 452), Step("failed", "permanent", "old", 602, 7)],
        Outcome.COMPLAIN: [delivered, Step("complained")],
        Outcome.OPEN: [delivered, *opened],
        Outcome.CLICK: [delivered, *opened, *clicked],
        Outcome.UNSUBSCRIBE: [delivered, Step("unsubscribed")],
    }
    return plans.get(outcome, [delivered])


_LINK = re.compile(r"""<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def first_link(html: str | None) -> str | None:
    """The first http(s) link of an HTML part (what a ``click+`` recipient clicks)."""
    for match in _LINK.finditer(html or ""):
        url = unescape(next(group for group in match.groups() if group is not None)).strip()
        if url.lower().startswith(("http://", "https://")):
            return url
    return None
