"""A single background thread that runs callables at a due time (scheduled sends, webhook retries)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, name: str = "mailgun-sandbox-scheduler") -> None:
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_at(self, due: float, action: Callable[[], None]) -> None:
        """Run ``action`` on the scheduler thread at ``due`` (a ``time.monotonic()`` value)."""
        with self._condition:
            heapq.heappush(self._queue, (due, next(self._order), action))
            self._condition.notify()

    def call_later(self, delay: float, action: Callable[[], None]) -> None:
        self.call_at(time.monotonic() + max(0.0, delay), action)

    def run_due(self, predicate: Callable[[Callable[[], None]], bool]) -> int:
        """Make every queued action matching ``predicate`` due now; returns how many."""
        with self._condition:
            now = time.monotonic()
            changed = 0
            for index, (due, order, action) in enumerate(self._queue):
                if due > now and predicate(action):
                    self._queue[index] = (now, order, action)
                    changed += 1
            heapq.heapify(self._queue)
            self._condition.notify()
            return changed

    def clear(self, predicate: Callable[[Callable[[], None]], bool]) -> int:
        with self._condition:
            kept = [entry for entry in self._queue if not predicate(entry[2])]
            removed = len(self._queue) - len(kept)
            self._queue = kept
            heapq.heapify(self._queue)
            return removed

    def pending(self) -> int:
        with self._condition:
            return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._condition.wait(timeout=wait)
                if self._stopping:
                    return
                _, _, action = heapq.heappop(self._queue)
            try:
                action()
            except Exception:
                logger.exception("scheduled action failed")

    def stop(self, timeout: float = 5.0) -> None:
        with self._condition:
            self._stopping = True
            self._queue.clear()
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
