"""Mailgun's HTTP API with `requests`: one session, timeouts, retries with backoff and jitter.

The same code talks to real Mailgun and to the local sandbox; only the base URL and key differ.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, parsedate_to_datetime
from typing import Any

import requests

from tagmail.domain.mail import Envelope
from tagmail.errors import TagmailError

# Connect and read timeouts: Mailgun answers sends in well under a second when healthy.
TIMEOUT = (3.05, 15.0)
_TRY_AGAIN_SECONDS = re.compile(r"try again after (\d+) seconds?", re.IGNORECASE)
_TRY_AGAIN_DATE = re.compile(r"try again after (.+?)\s*$", re.IGNORECASE)


class MailgunError(TagmailError):
    code = "mailgun_error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MailgunRejected(MailgunError):
    """Mailgun refused the request for good (bad request, bad key, unknown domain): retrying
    the same request cannot succeed."""

    code = "mailgun_rejected"


class MailgunUnavailable(MailgunError):
    """Rate limited, a Mailgun-side error or no answer: the same request may succeed later."""

    code = "mailgun_unavailable"

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Accepted:
    message_id: str  # as Mailgun returns it, with angle brackets


class MailgunClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        max_attempts: int = 4,
        max_wait_seconds: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._session = session or requests.Session()
        self._auth = ("api", api_key)
        self._max_attempts = max_attempts
        # Waits longer than this are left to the caller (a queue redelivers later, cheaper than sleeping).
        self._max_wait = max_wait_seconds
        self._sleep = sleep
        self._jitter = jitter

    def send(self, domain: str, fields: Iterable[tuple[str, str]]) -> Accepted:
        response = self._request("POST", f"/v3/{domain}/messages", data=list(fields))
        body = _json(response)
        message_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(message_id, str):
            raise MailgunUnavailable("Mailgun accepted the message but returned no id", response.status_code)
        return Accepted(message_id=message_id)

    def get_domain(self, domain: str) -> dict[str, Any] | None:
        try:
            return dict(_json(self._request("GET", f"/v4/domains/{domain}")))
        except MailgunRejected as error:
            if error.status == 404:
                return None
            raise

    def create_domain(self, domain: str) -> dict[str, Any]:
        # https tracking links: click and open tracking must not downgrade the recipient to http.
        return dict(_json(self._request("POST", "/v4/domains", data=[("name", domain), ("web_scheme", "https")])))

    def webhooks(self, domain: str) -> dict[str, list[str]]:
        body = _json(self._request("GET", f"/v3/domains/{domain}/webhooks"))
        hooks = body.get("webhooks", {}) if isinstance(body, dict) else {}
        # Older answers carry "url", newer ones "urls".
        return {
            kind: list(value.get("urls") or ([value["url"]] if value.get("url") else []))
            for kind, value in hooks.items()
            if isinstance(value, dict)
        }

    def set_webhook(self, domain: str, kind: str, urls: list[str], exists: bool) -> None:
        data = [("url", url) for url in urls]
        if exists:
            self._request("PUT", f"/v3/domains/{domain}/webhooks/{kind}", data=data)
        else:
            self._request("POST", f"/v3/domains/{domain}/webhooks", data=[("id", kind), *data])

    def events(self, domain: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        body = _json(self._request("GET", f"/v3/{domain}/events", params=dict(params)))
        items = body.get("items", []) if isinstance(body, dict) else []
        return [item for item in items if isinstance(item, dict)]

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        waited = 0.0
        failure: MailgunError
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._session.request(method, self._base + path, auth=self._auth, timeout=TIMEOUT, **kwargs)
            except requests.RequestException as exc:
                failure = MailgunUnavailable(f"Mailgun did not answer: {type(exc).__name__}")
            else:
                if response.status_code < 400:
                    return response
                failure = _failure(response)
            if not isinstance(failure, MailgunUnavailable):
                raise failure
            delay = failure.retry_after if failure.retry_after is not None else self._backoff(attempt)
            if attempt == self._max_attempts or waited + delay > self._max_wait:
                raise failure
            self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads retries of many senders so they do not hit Mailgun in step.
        return float(min(4.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + self._jitter() / 2))


def _failure(response: requests.Response) -> MailgunError:
    message = _message(response)
    status = response.status_code
    if status == 429:
        return MailgunUnavailable(f"Mailgun rate limit: {message}", status, _retry_after(message, response))
    if status >= 500 or status == 408:
        return MailgunUnavailable(f"Mailgun error {status}: {message}", status)
    return MailgunRejected(f"Mailgun refused ({status}): {message}", status)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason or ""
    if isinstance(body, dict):
        for key in ("message", "Reason", "Description", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:300]
    return str(body)[:300]


def _retry_after(message: str, response: requests.Response) -> float | None:
    """Mailgun documents no rate-limit headers; the 429 body says when to try again."""
    seconds = _TRY_AGAIN_SECONDS.search(message)
    if seconds:
        return float(seconds.group(1))
    moment = _TRY_AGAIN_DATE.search(message)
    if moment:
        try:
            return max(0.0, parsedate_to_datetime(moment.group(1)).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    header = response.headers.get("Retry-After", "")
    return float(header) if header.isdigit() else None


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise MailgunUnavailable("Mailgun answered with something that is not JSON", response.status_code) from exc


class MailgunMailer:
    """The send path's Mailer port on Mailgun: an envelope becomes `POST /v3/{domain}/messages`."""

    def __init__(self, client: MailgunClient) -> None:
        self._client = client

    def send(self, envelope: Envelope) -> str:
        return self._client.send(envelope.domain, message_fields(envelope)).message_id

    def find_accepted(self, envelope: Envelope, since: datetime) -> str | None:
        items = self._client.events(
            envelope.domain,
            {"event": "accepted", "recipient": envelope.to, "begin": str(int(since.timestamp())), "ascending": "yes"},
        )
        send_key = envelope.variables.get("tagmail_send")
        for item in items:
            variables = item.get("user-variables")
            if isinstance(variables, dict) and variables.get("tagmail_send") == send_key:
                message_id = item.get("message", {}).get("headers", {}).get("message-id")
                return f"<{message_id}>" if message_id else "<recovered>"
        return None


def message_fields(envelope: Envelope) -> list[tuple[str, str]]:
    def yes_no(flag: bool) -> str:
        return "yes" if flag else "no"

    fields = [
        ("from", formataddr((envelope.sender_name or "", envelope.sender_address))),
        ("to", envelope.to),
        ("subject", envelope.subject),
        ("html", envelope.html),
        ("text", envelope.text),
        ("o:tracking-clicks", yes_no(envelope.track_clicks)),
        ("o:tracking-opens", yes_no(envelope.track_opens)),
    ]
    if envelope.reply_to:
        fields.append(("h:Reply-To", envelope.reply_to))
    fields += [(f"h:{name}", value) for name, value in envelope.headers.items()]
    # Mailgun keeps at most three tags per message (more are dropped silently).
    fields += [("o:tag", tag) for tag in envelope.tags[:3]]
    fields += [(f"v:{name}", value) for name, value in envelope.variables.items()]
    return fields
