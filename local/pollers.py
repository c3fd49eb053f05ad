"""The loop every event-source poller shares: a stoppable thread that reports when it is idle."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod

logger = logging.getLogger(__name__)


class Backoff:
    """Retry delays kept short locally (0.2 s doubling to 2 s) so tests finish quickly."""

    def __init__(self, first: float = 0.2, ceiling: float = 2.0) -> None:
        self.first = first
        self.ceiling = ceiling
        self.current = first

    def next(self) -> float:
        delay = self.current
        self.current = min(self.current * 2, self.ceiling)
        return delay

    def reset(self) -> None:
        self.current = self.first


class Poller(ABC):
    """Runs ``poll_once`` until stopped; ``wait_idle_after`` lets tests wait for a drained source."""

    idle_interval = 0.25  # how often an idle source is asked again (Lambda polls streams ~4/s)

    def __init__(self, name: str) -> None:
        self.name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = threading.Condition()
        self._cycle = 0
        self._idle_cycle = -1
        self._work_count = 0

    @abstractmethod
    def poll_once(self) -> bool:
        """Do one round of work; True when something was delivered or is still pending."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poller-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()
        with self._state:
            self._state.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("poller did not stop in time", extra={"poller": self.name})

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait, waking early on stop; True when stopping."""
        return self._stopping.wait(max(0.0, seconds))

    def mark(self) -> tuple[int, int]:
        """(cycle in progress, work done so far), for ``wait_idle_after``."""
        with self._state:
            return self._cycle, self._work_count

    def wait_idle_after(self, cycle: int, deadline: float) -> bool:
        """Wait until a cycle that began after ``cycle`` found nothing to do."""
        with self._state:
            while self._idle_cycle <= cycle:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.stopping or self._thread is None:
                    return self._idle_cycle > cycle
                self._state.wait(min(remaining, 0.5))
            return True

    def _run(self) -> None:
        while not self.stopping:
            with self._state:
                self._cycle += 1
                cycle = self._cycle
            try:
                busy = self.poll_once()
            except Exception:
                # e.g. moto briefly unreachable; never let the thread die silently.
                logger.exception("poller failed, retrying", extra={"poller": self.name})
                busy = True
                self.sleep(1.0)
            with self._state:
                if busy:
                    self._work_count += 1
                else:
                    self._idle_cycle = cycle
                self._state.notify_all()
            if not busy:
                self.sleep(self.idle_interval)
