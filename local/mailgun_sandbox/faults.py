"""Injected faults for tests: rate limiting (429), server errors (5xx) and slow answers."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from local.mailgun_sandbox.errors import ApiError

FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class Fault:
    """The next ``count`` requests whose path starts with ``path_prefix`` (and method, if set)
    wait ``delay_seconds`` and then fail with ``status`` (or, with no status, are only slow)."""

    status: int | None = None
    count: int = 1
    delay_seconds: float = 0.0
    path_prefix: str = "/v3/"
    method: str | None = None
    retry_after_seconds: int = 120
    limit: str = "account-requests-per-sec"
    hits: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "count": self.count,
            "delay_seconds": self.delay_seconds,
            "path_prefix": self.path_prefix,
            "method": self.method,
            "retry_after_seconds": self.retry_after_seconds,
            "limit": self.limit,
            "hits": self.hits,
        }

    def error(self, domain: str | None) -> ApiError | None:
        if self.status is None:
            return None
        if self.status == 429:
            return ApiError.message(
                429,
                f"Domain {domain or 'unknown'} is not allowed to send: {self.limit} limit exceeded, "
                f"try again after {self.retry_after_seconds} seconds",
            )
        return ApiError.message(self.status, HTTPStatus(self.status).phrase)


def make_fault(
    status: int | None = None,
    *,
    count: int = 1,
    delay_seconds: float = 0.0,
    path_prefix: str = "/v3/",
    method: str | None = None,
    retry_after_seconds: int = 120,
    limit: str = "account-requests-per-sec",
) -> Fault:
    if status is not None and status not in FAULT_STATUSES:
        raise ValueError(f"status must be one of {sorted(FAULT_STATUSES)} or None")
    if count < 1 or delay_seconds < 0 or delay_seconds > 300:
        raise ValueError("count must be ≥ 1 and delay_seconds within 0..300")
    if status is None and delay_seconds == 0:
        raise ValueError("a fault needs a status, a delay, or both")
    return Fault(
        status=status,
        count=count,
        delay_seconds=delay_seconds,
        path_prefix=path_prefix or "/",
        method=method.upper() if method else None,
        retry_after_seconds=retry_after_seconds,
        limit=limit,
    )


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching the request, used up by one."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix) and fault.method in (None, method):
                    fault.hits += 1
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]
