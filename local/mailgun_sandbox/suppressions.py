"""Per-domain suppression tables (bounces, unsubscribes, complaints) with Mailgun's paging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.validation import valid_email

KINDS = ("bounces", "unsubscribes", "complaints")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_BATCH = 1000

NOT_FOUND = {
    "bounces": "Address not found in bounces table",
    "unsubscribes": "Address not found in unsubscribers table",
    "complaints": "No spam complaints found for this address",
}
REMOVED = {
    "bounces": "Bounced addresses for this domain have been removed",
    "unsubscribes": "Unsubscribe event has been removed",
    "complaints": "Complaint addresses for this domain have been removed",
}
CLEARED = {
    "bounces": "Bounced addresses for this domain have been removed",
    "unsubscribes": "Unsubscribe addresses for this domain have been removed",
    "complaints": "Complaint addresses for this domain have been removed",
}


@dataclass(frozen=True)
class Drop:
    """Why a suppressed recipient is dropped: the failed event's reason and delivery-status."""

    reason: str
    code: int
    message: str


DROPS = {
    "bounces": Drop("suppress-bounce", 605, "Not delivering to previously bounced address"),
    "unsubscribes": Drop("suppress-unsubscribe", 606, "Not delivering to unsubscribed address"),
    "complaints": Drop("suppress-complaint", 607, "Not delivering to a user who marked your messages as spam"),
}


def suppression_time(moment: datetime) -> str:
    """``Thu, 11 Dec 2025 01:49:40 UTC``, as the suppression APIs write it."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def _created_at(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        try:
            moment = parsedate_to_datetime(value.replace(" UTC", " +0000"))
        except (TypeError, ValueError, IndexError) as exc:
            raise ApiError.message(400, f"Invalid created_at: {value}") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return suppression_time(moment)
    return suppression_time(datetime.now(UTC))


class SuppressionTables:
    """The three tables of one domain. Not thread-safe on its own: the sandbox holds its lock."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}

    def entry(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        address = str(record.get("address") or "").strip()
        if not address:
            raise ApiError.message(400, "'address' parameter is missing")
        if not valid_email(address):
            raise ApiError.message(400, f"'address' parameter is not a valid address: {address}")
        created_at = _created_at(record.get("created_at"))
        if kind == "bounces":
            code = record.get("code")
            return {
                "address": address,
                "code": str(code) if code not in (None, "") else "550",
                "error": str(record.get("error") or ""),
                "created_at": created_at,
            }
        if kind == "unsubscribes":
            tags = record.get("tags")
            if not isinstance(tags, list) or not tags:
                tag = record.get("tag")
                tags = [tag] if isinstance(tag, str) and tag else ["*"]
            return {"address": address, "tags": [str(tag) for tag in tags], "created_at": created_at}
        return {"address": address, "created_at": created_at}

    def add(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        entry = self.entry(kind, record)
        key = entry["address"].lower()
        existing = self.tables[kind].get(key)
        if kind == "unsubscribes" and existing is not None:
            entry["tags"] = list(dict.fromkeys([*existing["tags"], *entry["tags"]]))
        self.tables[kind][key] = entry
        return entry

    def get(self, kind: str, address: str) -> dict[str, Any]:
        entry = self.tables[kind].get(address.lower())
        if entry is None:
            raise ApiError.message(404, NOT_FOUND[kind])
        return entry

    def delete(self, kind: str, address: str, tag: str | None = None) -> dict[str, Any]:
        entry = self.get(kind, address)
        if kind == "unsubscribes" and tag:
            if tag not in entry["tags"]:
                raise ApiError.message(404, "Unsubscribe event for this tag does not exist")
            entry["tags"] = [known for known in entry["tags"] if known != tag]
            if entry["tags"]:
                return {"message": REMOVED[kind], "address": entry["address"]}
        del self.tables[kind][address.lower()]
        return {"message": REMOVED[kind], "address": entry["address"]}

    def clear(self, kind: str) -> dict[str, Any]:
        self.tables[kind].clear()
        return {"message": CLEARED[kind]}

    def drop_for(self, address: str, tags: list[str]) -> Drop | None:
        """Why a message with ``tags`` to ``address`` is dropped, or None when it may go."""
        key = address.lower()
        if key in self.tables["bounces"]:
            return DROPS["bounces"]
        unsubscribed = self.tables["unsubscribes"].get(key)
        if unsubscribed is not None:
            blocked = set(unsubscribed["tags"])
            if "*" in blocked or blocked & set(tags):
                return DROPS["unsubscribes"]
        if key in self.tables["complaints"]:
            return DROPS["complaints"]
        return None

    def page(
        self, kind: str, *, base_url: str, limit: int, page: str | None, pivot: str | None, term: str | None
    ) -> dict[str, Any]:
        entries = sorted(self.tables[kind].values(), key=lambda entry: entry["address"].lower())
        if term:
            entries = [entry for entry in entries if entry["address"].lower().startswith(term.lower())]
        where = (pivot or "").lower()
        if page == "next" and pivot:
            items = [entry for entry in entries if entry["address"].lower() > where][:limit]
        elif page == "previous" and pivot:
            items = [entry for entry in entries if entry["address"].lower() < where][-limit:]
        elif page == "last":
            items = entries[-limit:]
        else:
            items = entries[:limit]

        def url(**query: str | int) -> str:
            extra = {"term": term} if term else {}
            return f"{base_url}?{urlencode({**query, 'limit': limit, **extra})}"

        first_address = items[0]["address"] if items else pivot or ""
        last_address = items[-1]["address"] if items else pivot or ""
        return {
            "items": items,
            "paging": {
                "first": url(page="first"),
                "last": url(page="last"),
                "next": url(page="next", address=last_address),
                "previous": url(page="previous", address=first_address),
            },
        }
