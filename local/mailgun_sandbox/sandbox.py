"""The sandbox's state and operations, and the object tests and ``make run`` hold: MailgunSandbox."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from local.mailgun_sandbox.domains import (
    REGIONS,
    STATES,
    Domain,
    valid_dkim_selector,
    valid_domain_name,
)
from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.events import WEBHOOK_TYPES, event_data, events_page, webhook_type
from local.mailgun_sandbox.faults import Faults, make_fault
from local.mailgun_sandbox.forms import Form
from local.mailgun_sandbox.messages import StoredMessage, build_copies, copy_from_mime, new_message_id
from local.mailgun_sandbox.scenarios import Step, first_link, outcome_for, steps
from local.mailgun_sandbox.scheduler import Scheduler
from local.mailgun_sandbox.suppressions import MAX_BATCH, MAX_LIMIT, SuppressionTables
from local.mailgun_sandbox.validation import Address, SendRequest, flag, validate_send
from local.mailgun_sandbox.webhooks import MAX_URLS_PER_TYPE, WebhookDispatcher, check_url

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEMO_DOMAIN = "mg.demo-shop.test"
QUEUED = "Queued. Thank you."


@dataclass(frozen=True)
class _UnsubscribeLink:
    domain: str
    address: str
    tags: tuple[str, ...]
    storage_key: str | None


class MailgunSandbox:
    """A Mailgun-compatible HTTP API on 127.0.0.1 that stores what it accepts and posts webhooks.

    >>> sandbox = MailgunSandbox(port=0)
    >>> sandbox.start()
    >>> sandbox.add_domain("mg.demo-shop.test", state="active")
    >>> sandbox.url  # http://127.0.0.1:PORT, the client's base URL (instead of https://api.mailgun.net)
    """

    def __init__(
        self,
        port: int = 0,
        api_key: str | None = None,
        signing_key: str | None = None,
        region: str = "us",
        *,
        host: str = HOST,
        webhook_timeout: float = 10.0,
        max_schedule_days: int = 3,
    ) -> None:
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}")
        self.port = port
        self.host = host
        self.api_key = api_key or f"key-{secrets.token_hex(16)}"
        self.signing_key = signing_key or secrets.token_hex(16)
        self.region = region
        self.account_id = secrets.token_hex(12)
        self.webhook_retry_scale = 1.0
        self.webhook_timeout = webhook_timeout
        self.max_schedule_days = max_schedule_days
        # PUT /v4/domains/{d}/verify passes when True (as if the DNS records were in place).
        self.verify_dns = True
        self.faults = Faults()
        self._lock = threading.RLock()
        self._domains: dict[str, Domain] = {}
        self._suppressions: dict[str, SuppressionTables] = {}
        self._webhooks: dict[str, dict[str, list[str]]] = {}
        self._messages: list[StoredMessage] = []
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._unsubscribe_links: dict[str, _UnsubscribeLink] = {}
        self._last_timestamp = 0.0
        self._scheduler = Scheduler()
        self._webhook_dispatcher = WebhookDispatcher(
            self._scheduler,
            signing_key=lambda: self.signing_key,
            retry_scale=lambda: self.webhook_retry_scale,
            timeout=lambda: self.webhook_timeout,
        )
        self._stopping = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> MailgunSandbox:
        from local.mailgun_sandbox.server import SandboxServer

        if self._server is not None:
            return self
        self._server = SandboxServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._scheduler.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mailgun-sandbox", daemon=True
        )
        self._thread.start()
        logger.info("mailgun sandbox listening", extra={"url": self.url})
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._webhook_dispatcher.stop(timeout)
        self._scheduler.stop(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> MailgunSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    @classmethod
    def demo(cls, port: int = 0, **kwargs: Any) -> MailgunSandbox:
        """A started sandbox with the demo sending domain ``mg.demo-shop.test`` active."""
        sandbox = cls(port=port, **kwargs).start()
        sandbox.add_domain(DEMO_DOMAIN, state="active")
        return sandbox

    def facts(self, domain: str = DEMO_DOMAIN) -> dict[str, str]:
        """The ``mailgun`` entry of the local facts file."""
        return {"domain": domain, "api_key": self.api_key, "signing_key": self.signing_key, "api_url": self.url}

    # --- Python helpers for tests and the local stack --------------------------------------

    def add_domain(
        self, name: str, state: str = "active", region: str | None = None, **settings: Any
    ) -> dict[str, Any]:
        """Add (or replace) a sending domain; ``settings`` are Domain fields (dkim_selector, …)."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        with self._lock:
            domain = Domain(name=name.lower(), state=state, region=region or self.region, **settings)
            self._domains[domain.name] = domain
            self._suppressions.setdefault(domain.name, SuppressionTables())
            self._webhooks.setdefault(domain.name, {})
            self._events.setdefault(domain.name, [])
            return domain.with_records()

    def set_domain_state(self, name: str, state: str) -> dict[str, Any]:
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        with self._lock:
            domain = self._domain(name, "Domain not found")
            domain.state = state
            return domain.with_records()

    def domain(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._domain(name, "Domain not found").with_records()

    def messages(self, domain: str | None = None) -> list[dict[str, Any]]:
        """Every accepted message copy, oldest first, with ``raw_mime``."""
        with self._lock:
            return [m.as_json() for m in self._messages if domain is None or m.domain == domain.lower()]

    def message(self, key: str) -> dict[str, Any]:
        """One copy by storage key or message id (with or without angle brackets)."""
        with self._lock:
            return self._find_message(key).as_json()

    def events(self, domain: str | None = None, event: str | None = None) -> list[dict[str, Any]]:
        """Recorded event-data, oldest first."""
        with self._lock:
            names = [domain.lower()] if domain else list(self._events)
            items = [item for name in names for item in self._events.get(name, [])]
        items.sort(key=lambda item: item["timestamp"])
        return [item for item in items if event is None or item["event"] == event]

    def set_webhook(self, domain: str, webhook: str, urls: list[str]) -> None:
        with self._lock:
            self._domain(domain, "Domain not found")
            self._set_webhook_urls(domain.lower(), webhook, urls)

    def suppress(self, domain: str, kind: str, address: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            return self._tables(domain).add(kind, {"address": address, **fields})

    def set_fault(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        delay_seconds: float = 0.0,
        path_prefix: str = "/v3/",
        method: str | None = None,
        retry_after_seconds: int = 120,
        limit: str = "account-requests-per-sec",
    ) -> None:
        """Make the next ``count`` matching requests slow and/or fail with ``status``."""
        self.faults.add(
            make_fault(
                status,
                count=count,
                delay_seconds=delay_seconds,
                path_prefix=path_prefix,
                method=method,
                retry_after_seconds=retry_after_seconds,
                limit=limit,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until every webhook delivery, retries included, is done; False on timeout."""
        return self._webhook_dispatcher.flush(timeout)

    def retry_webhooks_now(self) -> int:
        return self._webhook_dispatcher.retry_now()

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return self._webhook_dispatcher.deliveries()

    def deliver_scheduled_now(self) -> int:
        """Deliver every message held by ``o:deliverytime`` now; returns how many copies."""
        return self._scheduler.run_due(lambda action: isinstance(action, _ScheduledDelivery) and action.sandbox is self)

    def reset(self) -> None:
        """Forget messages, events, suppressions and webhook deliveries; keep domains and webhooks."""
        self._scheduler.clear(lambda action: isinstance(action, _ScheduledDelivery))
        self._webhook_dispatcher.reset()
        with self._lock:
            self._messages.clear()
            self._unsubscribe_links.clear()
            for name in self._domains:
                self._events[name] = []
                self._suppressions[name] = SuppressionTables()

    # --- Messages ----------------------------------------------------------------------------

    def send(self, domain_name: str, form: Form, *, mime: bool = False) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self._lock:
            domain = self._domains.get(domain_name.lower())
            if domain is None:
                raise ApiError.message(404, f"Domain not found: {domain_name}")
            if domain.state == "unverified":
                raise ApiError.message(
                    400,
                    f"Domain {domain.name} is not allowed to send: "
                    "The domain is unverified and requires DNS configuration",
                )
            if domain.state == "disabled":
                raise ApiError.message(400, f"Domain {domain.name} is not allowed to send: The domain is disabled")
        request = validate_send(form, now=now, max_schedule_days=self.max_schedule_days, mime=mime)
        message_id = new_message_id(domain.name, now)
        if mime:
            copies = [copy_from_mime(request, domain=domain.name, now=now)]
            message_id = copies[0].id
        else:
            copies = build_copies(
                request,
                domain=domain.name,
                message_id=message_id,
                now=now,
                unsubscribe_links=lambda address, tags: self._unsubscribe_urls(domain.name, address, tags),
            )
        with self._lock:
            self._messages.extend(copies)
            for copy in copies:
                for recipient in copy.recipients:
                    self._record(copy, "accepted", recipient)
            if request.deliver_at is None:
                for copy in copies:
                    self._deliver(copy, request)
        if request.deliver_at is not None:
            delay = request.deliver_at.timestamp() - time.time()
            for copy in copies:
                self._scheduler.call_later(delay, _ScheduledDelivery(self, copy, request))
        return {"id": f"<{message_id}>", "message": QUEUED}

    def _unsubscribe_urls(self, domain: str, address: Address, tags: list[str]) -> tuple[str, str]:
        everything = secrets.token_urlsafe(16)
        tagged = secrets.token_urlsafe(16)
        with self._lock:
            self._unsubscribe_links[everything] = _UnsubscribeLink(domain, address.email, ("*",), None)
            self._unsubscribe_links[tagged] = _UnsubscribeLink(domain, address.email, tuple(tags) or ("*",), None)
        return f"{self.url}/sandbox/unsubscribe/{everything}", f"{self.url}/sandbox/unsubscribe/{tagged}"

    def _deliver(self, copy: StoredMessage, request: SendRequest) -> None:
        with self._lock:
            domain = self._domains.get(copy.domain)
            tables = self._suppressions.get(copy.domain)
            if domain is None or tables is None:
                return
            tracking = request.options.get("o:tracking")
            tracking_value = tracking if isinstance(tracking, str) else None
            opens = flag(_option(request, "o:tracking-opens"), flag(tracking_value, domain.tracking_open))
            clicks = flag(_option(request, "o:tracking-clicks"), flag(tracking_value, domain.tracking_click))
            link = first_link(copy.html)
            for recipient in copy.recipients:
                drop = tables.drop_for(recipient, copy.tags)
                if drop is not None:
                    self._record(copy, "failed", recipient, drop=(drop.reason, drop.code, drop.message))
                    continue
                if copy.test_mode:
                    self._record(copy, "delivered", recipient, step=Step("delivered", code=650))
                    continue
                for step in steps(outcome_for(recipient), opens=opens, clicks=clicks, has_link=link is not None):
                    self._record(copy, step.event, recipient, step=step, url=link)
                    self._apply_side_effects(tables, step, recipient, copy)

    @staticmethod
    def _apply_side_effects(tables: SuppressionTables, step: Step, recipient: str, copy: StoredMessage) -> None:
        if step.event == "failed" and step.severity == "permanent" and step.reason == "bounce":
            tables.add("bounces", {"address": recipient, "code": str(step.code), "error": "No such mailbox"})
        elif step.event == "complained":
            tables.add("complaints", {"address": recipient})
        elif step.event == "unsubscribed":
            tables.add("unsubscribes", {"address": recipient, "tags": ["*"]})

    def _record(
        self,
        copy: StoredMessage,
        name: str,
        recipient: str,
        *,
        step: Step | None = None,
        url: str | None = None,
        drop: tuple[str, int, str] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            timestamp = max(time.time(), self._last_timestamp + 0.000001)
            self._last_timestamp = timestamp
            data = event_data(
                name,
                copy,
                recipient,
                timestamp=timestamp,
                account_id=self.account_id,
                storage_url=f"{self.url}/v3/domains/{copy.domain}/messages/{copy.storage_key}",
                step=step,
                url=url,
                drop=drop,
            )
            self._events.setdefault(copy.domain, []).append(data)
            kind = webhook_type(data)
            urls = list(self._webhooks.get(copy.domain, {}).get(kind or "", []))
        for target in urls:
            self._webhook_dispatcher.submit(target, kind or "", data, copy.domain)
        return data

    def unsubscribe(self, token: str) -> dict[str, Any]:
        """A click on ``%unsubscribe_url%`` (or its RFC 8058 one-click POST)."""
        with self._lock:
            link = self._unsubscribe_links.get(token)
            if link is None:
                raise ApiError.message(404, "Unsubscribe link not found")
            tables = self._tables(link.domain)
            entry = tables.add("unsubscribes", {"address": link.address, "tags": list(link.tags)})
            copy = next(
                (m for m in reversed(self._messages) if m.domain == link.domain and link.address in m.recipients),
                None,
            )
            if copy is not None:
                self._record(copy, "unsubscribed", link.address)
            return entry

    def stored_message(self, domain: str, key: str) -> StoredMessage:
        with self._lock:
            self._domain(domain, "Domain not found")
            for message in self._messages:
                if message.storage_key == key and message.domain == domain.lower():
                    return message
        raise ApiError.message(404, "Message not found")

    def _find_message(self, key: str) -> StoredMessage:
        wanted = key.strip().strip("<>")
        for message in self._messages:
            if message.storage_key == wanted:
                return message
        for message in self._messages:
            if message.id == wanted:
                return message
        raise ApiError.message(404, "Message not found")

    def sandbox_messages(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /sandbox/messages: newest first, filtered by domain, recipient, message_id or tag."""
        with self._lock:
            selected = list(reversed(self._messages))
        if params.get("domain"):
            selected = [m for m in selected if m.domain == params["domain"].lower()]
        if params.get("recipient"):
            wanted = params["recipient"].lower()
            selected = [m for m in selected if wanted in (r.lower() for r in m.recipients)]
        if params.get("message_id"):
            selected = [m for m in selected if m.id == params["message_id"].strip("<>")]
        if params.get("tag"):
            selected = [m for m in selected if params["tag"] in m.tags]
        full = params.get("raw") in ("1", "yes", "true")
        return [m.as_json(full=full) for m in selected]

    # --- Domains -----------------------------------------------------------------------------

    def _domain(self, name: str, missing: str) -> Domain:
        domain = self._domains.get(name.lower())
        if domain is None:
            raise ApiError.message(404, missing)
        return domain

    def list_domains(self, params: dict[str, str]) -> dict[str, Any]:
        limit = _int_param(params, "limit", 100, 1, 1000)
        skip = _int_param(params, "skip", 0, 0, 10**9)
        with self._lock:
            domains = sorted(self._domains.values(), key=lambda d: d.created_at, reverse=True)
        if params.get("state"):
            domains = [d for d in domains if d.state == params["state"]]
        if params.get("search"):
            domains = [d for d in domains if params["search"].lower() in d.name]
        sort = params.get("sort", "")
        if sort in ("name", "name:asc", "name:desc"):
            domains.sort(key=lambda d: d.name, reverse=sort == "name:desc")
        return {"total_count": len(domains), "items": [d.as_json() for d in domains[skip : skip + limit]]}

    def create_domain(self, form: Form) -> dict[str, Any]:
        name = (form.get("name") or "").strip().lower()
        if not name:
            raise ApiError.message(400, "Missing mandatory parameter: name")
        if not valid_domain_name(name):
            raise ApiError.message(400, f"'{name}' is not a valid domain name")
        settings: dict[str, Any] = {}
        password = form.get("smtp_password")
        if password is not None:
            if not 5 <= len(password) <= 32:
                raise ApiError.message(400, "Password is too short. It must be between 5 and 32 characters.")
            settings["smtp_password"] = password
        settings.update(_domain_settings(form))
        selector = form.get("dkim_selector")
        if selector is not None:
            if not valid_dkim_selector(selector):
                raise ApiError.message(400, "dkim_selector must be a valid RFC 2822 atom")
            settings["dkim_selector"] = selector
        key_size = form.get("dkim_key_size")
        if key_size is not None:
            if key_size not in ("1024", "2048"):
                raise ApiError.message(400, "dkim_key_size must be 1024 or 2048")
            settings["dkim_key_size"] = int(key_size)
        with self._lock:
            if name in self._domains:
                raise ApiError.message(400, "This domain name is already taken")
            self.add_domain(name, state="unverified", **settings)
            return {"message": "Domain has been created", **self._domains[name].with_records()}

    def update_domain(self, name: str, form: Form) -> dict[str, Any]:
        settings = _domain_settings(form)
        with self._lock:
            domain = self._domain(name, "Domain not found")
            for key, value in settings.items():
                setattr(domain, key, value)
            return {"message": "Domain has been updated", **domain.with_records()}

    def verify_domain(self, name: str, *, force: bool = False) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(name, "Domain not found")
            if (force or self.verify_dns) and domain.state == "unverified":
                domain.state = "active"
            return {"message": "Domain DNS records have been updated", **domain.with_records()}

    def delete_domain(self, name: str) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(name, "Domain not found")
            del self._domains[domain.name]
            return {"message": "Domain will be deleted in the background"}

    def tracking(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._domain(name, "Domain not found").tracking_json()

    def update_tracking(self, name: str, kind: str, form: Form) -> dict[str, Any]:
        active = (form.get("active") or "").lower()
        if active not in ("yes", "no", "true", "false", "htmlonly"):
            raise ApiError.message(400, "'active' parameter must be yes, no, true, false or htmlonly")
        with self._lock:
            domain = self._domain(name, "Domain not found")
            setattr(domain, f"tracking_{kind}", active in ("yes", "true", "htmlonly"))
            return {
                "message": "Domain tracking settings have been updated",
                kind: domain.tracking_json()["tracking"][kind],
            }

    # --- Webhooks ----------------------------------------------------------------------------

    def _set_webhook_urls(self, domain: str, webhook: str, urls: list[str]) -> list[str]:
        if webhook not in WEBHOOK_TYPES:
            raise ApiError.message(400, f"Invalid webhook type '{webhook}', expected one of {', '.join(WEBHOOK_TYPES)}")
        cleaned = list(dict.fromkeys(check_url(url) for url in urls))
        if not cleaned:
            raise ApiError.message(400, "url parameter is missing")
        if len(cleaned) > MAX_URLS_PER_TYPE:
            raise ApiError.message(400, f"A webhook can have at most {MAX_URLS_PER_TYPE} URLs")
        self._webhooks.setdefault(domain, {})[webhook] = cleaned
        return cleaned

    def _hooks(self, name: str) -> dict[str, list[str]]:
        domain = self._domain(name, "Domain not found")
        return self._webhooks.setdefault(domain.name, {})

    def list_webhooks(self, name: str) -> dict[str, Any]:
        with self._lock:
            hooks = self._hooks(name)
            return {"webhooks": {kind: {"urls": list(hooks[kind])} for kind in WEBHOOK_TYPES if hooks.get(kind)}}

    def create_webhook(self, name: str, form: Form) -> dict[str, Any]:
        webhook = form.get("id") or ""
        with self._lock:
            hooks = self._hooks(name)
            if webhook not in WEBHOOK_TYPES:
                raise ApiError.message(
                    400, f"Invalid webhook type '{webhook}', expected one of {', '.join(WEBHOOK_TYPES)}"
                )
            if hooks.get(webhook):
                raise ApiError.message(400, "Webhook already exists")
            urls = self._set_webhook_urls(name.lower(), webhook, form.all("url"))
            return {"message": "Webhook has been created", "webhook": {"urls": urls}}

    def get_webhook(self, name: str, webhook: str) -> dict[str, Any]:
        with self._lock:
            urls = self._hooks(name).get(webhook)
            if not urls:
                raise ApiError.message(404, "Webhook not found")
            return {"webhook": {"urls": list(urls)}}

    def update_webhook(self, name: str, webhook: str, form: Form) -> dict[str, Any]:
        with self._lock:
            hooks = self._hooks(name)
            if webhook not in WEBHOOK_TYPES or not hooks.get(webhook):
                raise ApiError.message(404, "Webhook not found")
            urls = self._set_webhook_urls(name.lower(), webhook, form.all("url"))
            return {"message": "Webhook has been updated", "webhook": {"urls": urls}}

    def delete_webhook(self, name: str, webhook: str) -> dict[str, Any]:
        with self._lock:
            hooks = self._hooks(name)
            urls = hooks.pop(webhook, None)
            if not urls:
                raise ApiError.message(404, "Webhook not found")
            return {"message": "Webhook has been deleted", "webhook": {"urls": urls}}

    def change_webhooks_v4(self, name: str, method: str, form: Form, query: dict[str, str]) -> dict[str, Any]:
        """``POST``/``PUT``/``DELETE /v4/domains/{d}/webhooks``: one URL, several event types."""
        with self._lock:
            hooks = self._hooks(name)
            if method == "DELETE":
                targets = [url.strip() for url in (query.get("url") or "").split(",") if url.strip()]
                if not targets:
                    raise ApiError(400, {"Field": "url"})
                _remove_urls(hooks, targets)
                return self.list_webhooks(name)
            url = check_url(form.get("url") or "")
            types = _event_types(form)
            if method == "PUT":
                if not any(url in urls for urls in hooks.values()):
                    raise ApiError(404, {"Description": "Webhook not found"})
                _remove_urls(hooks, [url])
            for kind in types:
                current = hooks.get(kind, [])
                if url in current:
                    raise ApiError(400, {"Reason": f"Webhook for event type '{kind}' with URL '{url}' already exists"})
                if len(current) >= MAX_URLS_PER_TYPE:
                    raise ApiError.message(400, f"A webhook can have at most {MAX_URLS_PER_TYPE} URLs")
            for kind in types:
                hooks.setdefault(kind, []).append(url)
            return self.list_webhooks(name)

    # --- Suppressions ------------------------------------------------------------------------

    def _tables(self, name: str) -> SuppressionTables:
        domain = self._domain(name, f"Domain not found: {name}")
        return self._suppressions.setdefault(domain.name, SuppressionTables())

    def list_suppressions(self, name: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
        limit = min(_int_param(params, "limit", 100, 1, 10**6), MAX_LIMIT)
        with self._lock:
            return self._tables(name).page(
                kind,
                base_url=f"{self.url}/v3/{quote(name)}/{kind}",
                limit=limit,
                page=params.get("page"),
                pivot=params.get("address"),
                term=params.get("term"),
            )

    def add_suppressions(
        self, name: str, kind: str, records: list[dict[str, Any]] | None, form: Form | None
    ) -> dict[str, Any]:
        with self._lock:
            tables = self._tables(name)
            if records is not None:
                if len(records) > MAX_BATCH:
                    raise ApiError.message(400, "Batch size should be less than 1000")
                entries = [tables.entry(kind, record) for record in records]  # all valid, or none added
                for entry in entries:
                    tables.add(kind, entry)
                return {"message": f"{len(entries)} addresses have been added to the {kind} table"}
            assert form is not None
            record: dict[str, Any] = {key: form.get(key) for key in ("address", "code", "error", "created_at", "tag")}
            entry = tables.add(kind, record)
            return {"message": f"Address has been added to the {kind} table", "address": entry["address"]}

    def get_suppression(self, name: str, kind: str, address: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._tables(name).get(kind, address))

    def delete_suppression(self, name: str, kind: str, address: str, tag: str | None) -> dict[str, Any]:
        with self._lock:
            return self._tables(name).delete(kind, address, tag)

    def clear_suppressions(self, name: str, kind: str) -> dict[str, Any]:
        with self._lock:
            return self._tables(name).clear(kind)

    # --- Events ------------------------------------------------------------------------------

    def events_page(self, name: str, params: dict[str, str], offset: int = 0) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(name, f"Domain not found: {name}")
            items = list(self._events.get(domain.name, []))
        return events_page(items, params, offset, f"{self.url}/v3/{quote(domain.name)}/events")


def _remove_urls(hooks: dict[str, list[str]], urls: list[str]) -> None:
    for kind in list(hooks):
        hooks[kind] = [known for known in hooks[kind] if known not in urls]
        if not hooks[kind]:
            del hooks[kind]


def _event_types(form: Form) -> list[str]:
    types = [kind.strip() for value in form.all("event_types") for kind in value.split(",") if kind.strip()]
    if not types:
        raise ApiError(400, {"Field": "event_types"})
    for kind in types:
        if kind not in WEBHOOK_TYPES:
            raise ApiError(400, {"Reason": f"invalid parameters: unknown event type '{kind}'"})
    return types


def _option(request: SendRequest, name: str) -> str | None:
    value = request.options.get(name)
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError.message(400, f"'{name}' parameter is not a valid integer: {raw}") from exc
    if not low <= value <= high:
        raise ApiError.message(400, f"'{name}' parameter must be between {low} and {high}")
    return value


_BOOL_SETTINGS = (
    "wildcard",
    "require_tls",
    "skip_verification",
    "use_automatic_sender_security",
    "encrypt_incoming_message",
)


def _domain_settings(form: Form) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    spam_action = form.get("spam_action")
    if spam_action is not None:
        if spam_action not in ("disabled", "tag", "block"):
            raise ApiError.message(400, "spam_action must be one of disabled, tag, block")
        settings["spam_action"] = spam_action
    web_scheme = form.get("web_scheme")
    if web_scheme is not None:
        if web_scheme not in ("http", "https"):
            raise ApiError.message(400, "web_scheme must be http or https")
        settings["web_scheme"] = web_scheme
    web_prefix = form.get("web_prefix")
    if web_prefix:
        settings["web_prefix"] = web_prefix
    for name in _BOOL_SETTINGS:
        value = form.get(name)
        if value is not None:
            if value.lower() not in ("true", "false", "yes", "no"):
                raise ApiError.message(400, f"{name} must be true or false")
            settings[name] = value.lower() in ("true", "yes")
    ttl = form.get("message_ttl")
    if ttl:
        try:
            settings["message_ttl"] = int(ttl)
        except ValueError as exc:
            raise ApiError.message(400, "message_ttl must be an integer") from exc
    return settings


@dataclass(frozen=True)
class _ScheduledDelivery:
    """A copy held by ``o:deliverytime``; the scheduler delivers it when due."""

    sandbox: MailgunSandbox
    copy: StoredMessage
    request: SendRequest

    def __call__(self) -> None:
        self.sandbox._deliver(self.copy, self.request)
