"""Resolving write and admin keys to projects, cached per warm container."""

from __future__ import annotations

from dataclasses import dataclass

from tagmail.domain.projects import KeyKind, hash_key
from tagmail.errors import Unauthorized
from tagmail.services.ports import ApiKeyRepository, Clock


@dataclass
class _Cached:
    project_id: str | None
    until: float


class KeyResolver:
    """Looks keys up by hash; answers (and refusals) are cached briefly so a busy site costs one
    read per container per minute, and a flood of made-up keys cannot hammer the table."""

    def __init__(self, keys: ApiKeyRepository, clock: Clock, ttl_seconds: float = 60.0, max_entries: int = 10_000):
        self._keys = keys
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._cache: dict[tuple[str, KeyKind], _Cached] = {}

    def project_for(self, key: str | None, kind: KeyKind) -> str:
        if not key:
            raise Unauthorized(f"a {kind.value} key is required")
        now = self._clock().timestamp()
        key_hash = hash_key(key)
        cached = self._cache.get((key_hash, kind))
        if cached is None or cached.until < now:
            stored = self._keys.get(key_hash)
            project_id = stored.project_id if stored is not None and stored.kind is kind else None
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            cached = self._cache[(key_hash, kind)] = _Cached(project_id, now + self._ttl)
        if cached.project_id is None:
            raise Unauthorized(f"unknown {kind.value} key")
        return cached.project_id
