"""Signed webhook deliveries, retried on Mailgun's schedule, and the URL checks of the webhooks API.

Each attempt is a JSON POST ``{"signature": {...}, "event-data": {...}}`` signed afresh with
``hex(HMAC-SHA256(signing_key, timestamp + token))``. 200 ends it, 406 rejects it (no retry),
anything else (another status, a timeout, a refused connection) is retried after 5 min, 10 min,
15 min, 1 h, 2 h and 4 h, each multiplied by ``retry_scale``; ``delivered`` is never retried.
Deliveries run on worker threads, never on the thread that accepted the message.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.scheduler import Scheduler

logger = logging.getLogger(__name__)

RETRY_SCHEDULE_SECONDS = (300, 600, 900, 3600, 7200, 14400)
MAX_URLS_PER_TYPE = 3
NEVER_RETRIED = frozenset({"delivered"})


def sign(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def signature_block(signing_key: str, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    token = secrets.token_hex(25)  # 50 characters, like Mailgun's
    return {"timestamp": timestamp, "token": token, "signature": sign(signing_key, timestamp, token)}


def check_url(url: str) -> str:
    """An http(s) URL with a host; 400 ``{"Reason": …}`` as Mailgun answers otherwise.

    Mailgun wants HTTPS with a CA-signed certificate; the sandbox also takes http, since its
    receivers run on 127.0.0.1.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ApiError(400, {"Reason": f"{url} is not a valid url: invalid URL scheme"})
    if not parts.hostname:
        raise ApiError(400, {"Reason": f"{url} is not a valid url: host not found"})
    return url.strip()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer other than 200: retried, never followed


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


@dataclass
class Delivery:
    """One event to one URL, with every attempt made so far."""

    id: int
    url: str
    webhook: str
    event_data: dict[str, Any]
    domain: str
    state: str = "pending"  # pending, retrying, delivered, rejected, failed
    attempts: list[dict[str, Any]] = field(default_factory=list)
    last_payload: dict[str, Any] | None = None
    first_done: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "webhook": self.webhook,
            "domain": self.domain,
            "event": self.event_data.get("event"),
            "event_id": self.event_data.get("id"),
            "message_id": self.event_data.get("message", {}).get("headers", {}).get("message-id"),
            "recipient": self.event_data.get("recipient"),
            "state": self.state,
            "attempts": list(self.attempts),
            "payload": self.last_payload,
        }


class WebhookDispatcher:
    """Posts webhooks on worker threads and schedules their retries."""

    def __init__(
        self,
        scheduler: Scheduler,
        signing_key: Callable[[], str],
        retry_scale: Callable[[], float],
        timeout: Callable[[], float],
        workers: int = 4,
    ) -> None:
        self._scheduler = scheduler
        self._signing_key = signing_key
        self._retry_scale = retry_scale
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mailgun-webhook")
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._outstanding = 0  # deliveries queued, in flight or waiting for a retry
        self._deliveries: list[Delivery] = []
        self._generation = 0  # bumped by reset(): work from before it is dropped
        self._lines: dict[tuple[str, str, str], list[Delivery]] = {}
        self._stopped = False

    def submit(self, url: str, webhook: str, event_data: dict[str, Any], domain: str) -> None:
        with self._lock:
            if self._stopped:
                return
            delivery = Delivery(next(self._ids), url, webhook, event_data, domain)
            self._deliveries.append(delivery)
            self._outstanding += 1
            generation = self._generation
            # First attempts for one recipient of one message to one URL go in event order
            # (accepted before delivered before opened…); retries come later, as with Mailgun.
            line = self._lines.setdefault(_line_key(delivery), [])
            line.append(delivery)
            if len(line) > 1:
                return
        self._executor.submit(self._attempt, delivery, generation)

    def _next_in_line(self, delivery: Delivery, generation: int) -> None:
        """Called under the lock when a delivery's first attempt is over: start the next one."""
        if delivery.first_done:
            return
        delivery.first_done = True
        key = _line_key(delivery)
        line = self._lines.get(key, [])
        if line and line[0] is delivery:
            line.pop(0)
        if not line:
            self._lines.pop(key, None)
        elif not self._stopped and generation == self._generation:
            with contextlib.suppress(RuntimeError):
                self._executor.submit(self._attempt, line[0], generation)

    def _attempt(self, delivery: Delivery, generation: int) -> None:
        with self._lock:
            if self._stopped or generation != self._generation:
                return
        payload = {"signature": signature_block(self._signing_key()), "event-data": delivery.event_data}
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            delivery.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "mailgun/treq-16.12.0"},
        )
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            with _OPENER.open(request, timeout=self._timeout()) as response:
                status = response.status
                response.read(65536)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempt = {
            "at": datetime.now(UTC).isoformat(),
            "status": status,
            "error": error,
            "seconds": round(time.monotonic() - started, 3),
        }
        retry_in: float | None = None
        with self._lock:
            if generation != self._generation:
                return
            delivery.attempts.append(attempt)
            delivery.last_payload = payload
            number = len(delivery.attempts)
            if status == 200:
                delivery.state = "delivered"
            elif status == 406:
                delivery.state = "rejected"
            elif delivery.webhook in NEVER_RETRIED or delivery.event_data.get("event") in NEVER_RETRIED:
                delivery.state = "failed"
            elif number <= len(RETRY_SCHEDULE_SECONDS) and not self._stopped:
                delivery.state = "retrying"
                retry_in = RETRY_SCHEDULE_SECONDS[number - 1] * self._retry_scale()
            else:
                delivery.state = "failed"
            if retry_in is None:
                self._outstanding -= 1
                self._lock.notify_all()
            self._next_in_line(delivery, generation)
        logger.debug("webhook attempt", extra={"webhook": delivery.webhook, "status": status, "state": delivery.state})
        if retry_in is not None:
            self._scheduler.call_later(retry_in, _Retry(self, delivery, generation))

    def _resubmit(self, delivery: Delivery, generation: int) -> None:
        with self._lock:
            if self._stopped or generation != self._generation:
                return
        with contextlib.suppress(RuntimeError):  # the executor is shutting down
            self._executor.submit(self._attempt, delivery, generation)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until no delivery is queued, in flight or waiting for a retry; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._outstanding > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def retry_now(self) -> int:
        """Make every waiting retry due at once (a test helper)."""
        return self._scheduler.run_due(lambda action: isinstance(action, _Retry) and action.dispatcher is self)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [delivery.as_json() for delivery in self._deliveries]

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._deliveries.clear()
            self._lines.clear()
            self._outstanding = 0
            self._lock.notify_all()
        self._scheduler.clear(lambda action: isinstance(action, _Retry) and action.dispatcher is self)

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopped = True
            self._outstanding = 0
            self._lock.notify_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for thread in list(getattr(self._executor, "_threads", ())):
            thread.join(max(0.0, deadline - time.monotonic()))


def _line_key(delivery: Delivery) -> tuple[str, str, str]:
    data = delivery.event_data
    return (delivery.url, str(data.get("message", {}).get("headers", {}).get("message-id")), str(data.get("recipient")))


@dataclass(frozen=True)
class _Retry:
    dispatcher: WebhookDispatcher
    delivery: Delivery
    generation: int

    def __call__(self) -> None:
        self.dispatcher._resubmit(self.delivery, self.generation)
