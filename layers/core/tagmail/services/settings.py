"""A project's mail settings as its admins change them: the product's rules on addresses, the
secrets kept in the secret store, and the Mailgun side of a sending domain (the domain itself, the
webhooks tagmail listens to, the DNS records Mailgun asks for)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tagmail.domain.email import InvalidEmail, parse_email
from tagmail.domain.projects import Project
from tagmail.domain.settings import MailSettings, ProjectSecrets, check_limits
from tagmail.domain.webhooks import WEBHOOK_TYPES
from tagmail.errors import Conflict, DependencyUnavailable, InvalidInput, NotFound, TagmailError
from tagmail.observability import count, logger
from tagmail.services.ports import MailgunDomains, MailgunDomainsFactory, MxLookup, ProjectRepository, SecretStore

WEBHOOK_PATH = "/webhooks/mailgun"
# Mailgun keeps at most three URLs per webhook type.
MAX_WEBHOOK_URLS = 3
MAX_SENDER_NAME = 100
MAX_POSTAL_ADDRESS = 500
MAX_SECRET_LENGTH = 256
# Longest wait after SPF and DKIM first pass before sending opens (30 days).
MAX_SENDING_WAIT_HOURS = 720
# A locale tag as sites send it: "ja", "ja-JP", "en_US", "zh-Hant-TW" (as templates accept them).
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_ZONE_SHAPE = re.compile(r"^(UTC|[A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+){1,2})$")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class MailgunUnreachable(DependencyUnavailable):
    """Mailgun failed or did not answer while the domain was being set up (a 502 for the caller)."""

    code = "mailgun_unavailable"


@dataclass(frozen=True)
class SettingsChange:
    """The whole settings (PUT semantics) and the write-only secrets: None keeps the stored
    secret, an empty string removes it."""

    settings: MailSettings
    mailgun_api_key: str | None = None
    webhook_signing_key: str | None = None


@dataclass(frozen=True)
class DnsRecord:
    purpose: str  # "sending" (SPF, DKIM, tracking CNAME) or "receiving" (MX)
    record_type: str
    name: str
    value: str
    priority: str | None = None
    valid: str | None = None  # Mailgun's last check: "valid", "unknown", ...


@dataclass(frozen=True)
class WebhookSetup:
    url: str
    registered: tuple[str, ...] = ()  # types tagmail's URL was added to now
    present: tuple[str, ...] = ()  # types that had it already
    full: tuple[str, ...] = ()  # types that already have three other URLs (tagmail's not added)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(
            f"the {kind} webhook already has {MAX_WEBHOOK_URLS} other URLs at Mailgun (its limit), so tagmail's "
            f"URL was not added; remove one of them at Mailgun and save the settings with the API key again"
            for kind in self.full
        )


@dataclass(frozen=True)
class DomainSetup:
    """What setting up the sending domain at Mailgun did and what DNS records it wants."""

    domain: str
    created: bool
    state: str | None
    sending_dns_records: tuple[DnsRecord, ...]
    receiving_dns_records: tuple[DnsRecord, ...]
    webhooks: WebhookSetup


@dataclass(frozen=True)
class DomainReport:
    """The sending domain as Mailgun reports it; services.domain_readiness checks its records
    against DNS (SPF, DKIM, DMARC, MX as the world sees them)."""

    domain: str
    state: str | None
    sending_dns_records: tuple[DnsRecord, ...]
    receiving_dns_records: tuple[DnsRecord, ...]


@dataclass(frozen=True)
class SettingsView:
    settings: MailSettings
    mailgun_api_key_set: bool
    webhook_signing_key_set: bool
    webhook_url: str
    mailgun: DomainSetup | None = None  # set when this change set the domain up at Mailgun


class SettingsService:
    def __init__(
        self,
        *,
        projects: ProjectRepository,
        secrets: SecretStore,
        mx_lookup: MxLookup,
        mailgun_for: MailgunDomainsFactory,
        public_base_url: str,
    ) -> None:
        self._projects = projects
        self._secrets = secrets
        self._mx = mx_lookup
        self._mailgun_for = mailgun_for
        self._webhook_url = public_base_url.rstrip("/") + WEBHOOK_PATH

    def get(self, project_id: str) -> SettingsView:
        project = self._project(project_id)
        return self._view(project.settings, self._secrets.get(project_id))

    def update(self, project_id: str, change: SettingsChange) -> SettingsView:
        """Validate, set the domain up at Mailgun when needed, then save: a refusal (ours or
        Mailgun's) leaves the stored settings and secrets as they were."""
        project = self._project(project_id)
        settings = check_settings(change.settings, self._mx)
        stored_secrets = self._secrets.get(project_id)
        new_secrets = _merge_secrets(stored_secrets, change)

        setup = None
        api_key = new_secrets.mailgun_api_key
        if settings.sending_domain and api_key and _needs_setup(project.settings, settings, change):
            setup = self.set_up_domain(settings, api_key)

        if new_secrets != stored_secrets:
            # Secrets before settings: a stored key without the settings naming it is inert.
            self._secrets.put(project_id, new_secrets)
        self._projects.update(replace(project, settings=settings))
        count("SettingsSaved")
        logger().info("settings saved", project_id=project_id, mailgun_setup=setup is not None)
        return self._view(settings, new_secrets, setup)

    def domain_report(self, project_id: str) -> DomainReport:
        project = self._project(project_id)
        domain = project.settings.sending_domain
        if not domain:
            raise Conflict("the project has no sending domain yet; set it with PUT /admin/v1/settings")
        client = self._client(project.settings, self._secrets.get(project_id))
        try:
            info = client.get_domain(domain)
        except TagmailError as error:
            raise mailgun_failure(error) from error
        if info is None:
            raise NotFound(f"Mailgun does not know {domain}; save the settings with the API key to create it there")
        sending, receiving = _records(info)
        return DomainReport(domain, _state(info), sending, receiving)

    def set_up_domain(self, settings: MailSettings, api_key: str) -> DomainSetup:
        """Create the domain at Mailgun if it does not exist, and make sure every webhook type
        posts to tagmail, keeping the URLs the customer added. Running it again changes nothing."""
        domain = settings.sending_domain or ""
        client = self._mailgun_for(settings.api_base_url, api_key)
        try:
            info = client.get_domain(domain)
            created = info is None
            if info is None:
                info = client.create_domain(domain)
                count("MailgunDomainsCreated")
            webhooks = self._register_webhooks(client, domain)
        except TagmailError as error:
            raise mailgun_failure(error) from error
        sending, receiving = _records(info)
        return DomainSetup(domain, created, _state(info), sending, receiving, webhooks)

    def _register_webhooks(self, client: MailgunDomains, domain: str) -> WebhookSetup:
        hooks = client.webhooks(domain)
        ours = _same_url(self._webhook_url)
        registered: list[str] = []
        present: list[str] = []
        full: list[str] = []
        for kind in WEBHOOK_TYPES:
            urls = hooks.get(kind)
            if urls is not None and any(_same_url(url) == ours for url in urls):
                present.append(kind)
            elif urls is not None and len(urls) >= MAX_WEBHOOK_URLS:
                full.append(kind)
            else:
                # PUT replaces a type's URLs, so the ones already there go along with ours.
                client.set_webhook(domain, kind, [*(urls or []), self._webhook_url], exists=urls is not None)
                registered.append(kind)
        if full:
            logger().warning("webhook types full at Mailgun", types=full)
        return WebhookSetup(self._webhook_url, tuple(registered), tuple(present), tuple(full))

    def _client(self, settings: MailSettings, stored: ProjectSecrets | None) -> MailgunDomains:
        if stored is None or not stored.mailgun_api_key:
            raise Conflict("the project has no Mailgun API key yet; set it with PUT /admin/v1/settings")
        return self._mailgun_for(settings.api_base_url, stored.mailgun_api_key)

    def _project(self, project_id: str) -> Project:
        project = self._projects.get(project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        return project

    def _view(
        self, settings: MailSettings, stored: ProjectSecrets | None, setup: DomainSetup | None = None
    ) -> SettingsView:
        return SettingsView(
            settings=settings,
            mailgun_api_key_set=bool(stored and stored.mailgun_api_key),
            webhook_signing_key_set=bool(stored and stored.webhook_signing_key),
            webhook_url=self._webhook_url,
            mailgun=setup,
        )


# -- rules ----------------------------------------------------------------------------------------


def check_settings(settings: MailSettings, mx_lookup: MxLookup) -> MailSettings:
    """The settings with blanks as None and names in canonical form, or InvalidInput naming the
    field that breaks a rule."""
    domain = _domain(settings.sending_domain)
    sender_name = _line(settings.sender_name, "sender_name", MAX_SENDER_NAME)
    sender = _address(settings.sender_address, "sender_address")
    reply_to = _address(settings.reply_to, "reply_to")
    notification = _address(settings.notification_address, "notification_address")
    postal = _text(settings.postal_address, "postal_address", MAX_POSTAL_ADDRESS)
    _wait_hours(settings.sending_wait_hours)
    check_limits(settings)

    if sender is not None:
        if domain is None:
            raise InvalidInput(
                "a sender address needs a sending domain: set sending_domain to the domain it is on",
                field="sender_address",
            )
        if _ascii_domain(sender.split("@", 1)[1]) != domain:
            raise InvalidInput(
                f"must be an address on the sending domain {domain} (such as news@{domain}): mail sent "
                f"through Mailgun from another domain fails SPF, DKIM and DMARC alignment, so receivers "
                f"treat it as spoofed and reject it or file it as spam",
                field="sender_address",
            )
    if reply_to is not None and domain is not None and _ascii_domain(reply_to.split("@", 1)[1]) == domain:
        hosts = mx_lookup.mx_hosts(domain)  # a failed lookup is an error, never "no MX"
        if hosts:
            raise InvalidInput(
                f"must be on another domain than {domain}: that domain has MX records "
                f"({', '.join(hosts)}), so mail to it goes to Mailgun, not to you, and replies would "
                f"be lost; use an address on a domain whose mail you read",
                field="reply_to",
            )

    return replace(
        settings,
        sending_domain=domain,
        sender_name=sender_name,
        sender_address=sender,
        reply_to=reply_to,
        notification_address=notification,
        postal_address=postal,
        mailgun_base_url=_base_url(settings.mailgun_base_url),
        default_locale=_locale(settings.default_locale),
        timezone=_timezone(settings.timezone),
    )


def _blank(value: str | None) -> str | None:
    return value.strip() if value is not None and value.strip() else None


def _domain(value: str | None) -> str | None:
    given = _blank(value)
    if given is None:
        return None
    domain = _ascii_domain(given.rstrip("."))
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(f"{given!r} is not a domain name such as mail.example.com", field="sending_domain")
    if labels[-1].isdigit():
        raise InvalidInput(f"{given!r} is an IP address; a domain name is needed", field="sending_domain")
    return domain


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return domain.lower()


def _address(value: str | None, field: str) -> str | None:
    given = _blank(value)
    if given is None:
        return None
    try:
        return parse_email(given).given
    except InvalidEmail as exc:
        raise InvalidInput(f"{given!r} is not a valid e-mail address: it {exc}", field=field) from exc


def _line(value: str | None, field: str, limit: int) -> str | None:
    given = _blank(value)
    if given is not None and _CONTROL.search(given):
        raise InvalidInput("must be one line without control characters", field=field)
    if given is not None and len(given) > limit:
        raise InvalidInput(f"must be at most {limit} characters", field=field)
    return given


def _text(value: str | None, field: str, limit: int) -> str | None:
    given = _blank(value)
    if given is not None and len(given) > limit:
        raise InvalidInput(f"must be at most {limit} characters", field=field)
    return given


def _base_url(value: str | None) -> str | None:
    given = _blank(value)
    if given is None:
        return None
    parts = urlsplit(given)
    host = (parts.hostname or "").lower()
    # Plain HTTP would carry the API key in clear; it is allowed only to a sandbox on this machine.
    if not host or parts.scheme not in ("https", "http") or (parts.scheme == "http" and host not in _LOOPBACK_HOSTS):
        raise InvalidInput(
            "must be an https:// URL (http:// only for localhost), such as https://api.mailgun.net",
            field="mailgun_base_url",
        )
    if parts.query or parts.fragment or parts.username:
        raise InvalidInput("must be a base URL without query, fragment or user", field="mailgun_base_url")
    return given.rstrip("/")


def _wait_hours(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SENDING_WAIT_HOURS:
        raise InvalidInput(
            f"must be a whole number of hours from 0 to {MAX_SENDING_WAIT_HOURS} (48 is the usual wait for new "
            "DNS records to reach every receiver)",
            field="sending_wait_hours",
        )


def _locale(value: str) -> str:
    given = value.strip()
    if not _LOCALE.match(given):
        raise InvalidInput(f"{value!r} is not a locale tag such as 'ja' or 'en-US'", field="default_locale")
    return given


def _timezone(value: str) -> str:
    given = value.strip()
    try:
        ZoneInfo(given)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        # Without a time zone database here, the name's shape is all that can be checked.
        if available_timezones() or not _ZONE_SHAPE.match(given):
            raise InvalidInput(
                f"{value!r} is not an IANA time zone such as 'Asia/Tokyo' or 'UTC'", field="timezone"
            ) from exc
    return given


def _secret(value: str, field: str) -> str:
    given = value.strip()
    if len(given) > MAX_SECRET_LENGTH or any(character.isspace() for character in given) or _CONTROL.search(given):
        raise InvalidInput(f"must be a key of at most {MAX_SECRET_LENGTH} characters without spaces", field=field)
    return given


def _merge_secrets(stored: ProjectSecrets | None, change: SettingsChange) -> ProjectSecrets:
    merged = stored or ProjectSecrets(unsubscribe_secret=secrets.token_urlsafe(32))
    if change.mailgun_api_key is not None:
        merged = replace(merged, mailgun_api_key=_secret(change.mailgun_api_key, "mailgun_api_key") or None)
    if change.webhook_signing_key is not None:
        key = _secret(change.webhook_signing_key, "webhook_signing_key") or None
        merged = replace(merged, webhook_signing_key=key)
    return merged


def _needs_setup(before: MailSettings, after: MailSettings, change: SettingsChange) -> bool:
    """The domain is set up at Mailgun when the Mailgun connection changes, or when the API key is
    given (again): other edits, such as pausing sending, must not depend on Mailgun answering."""
    return (
        change.mailgun_api_key is not None
        or before.sending_domain != after.sending_domain
        or before.api_base_url != after.api_base_url
    )


def _same_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def mailgun_failure(
    error: TagmailError, *, retry_hint: str = "nothing was changed, try again later", domain_refusal: bool = True
) -> TagmailError:
    """Mailgun's refusal, in terms of the settings the caller can fix: a refused key names
    `mailgun_api_key`; any other refusal names `sending_domain` (when `domain_refusal`); Mailgun
    being unreachable is a MailgunUnreachable ending with `retry_hint`."""
    status = getattr(error, "status", None)
    if error.code == "mailgun_rejected" and status in (401, 403):
        return InvalidInput(
            f"Mailgun did not accept the API key ({error.message}); use the account's private API key",
            field="mailgun_api_key",
            code="mailgun_rejected",
        )
    if error.code == "mailgun_rejected" and domain_refusal:
        return InvalidInput(error.message, field="sending_domain", code="mailgun_rejected")
    if error.code == "mailgun_unavailable":
        return MailgunUnreachable(f"{error.message}; {retry_hint}")
    return error


def _state(info: Mapping[str, Any]) -> str | None:
    domain = info.get("domain")
    state = domain.get("state") if isinstance(domain, Mapping) else None
    return str(state) if state is not None else None


def _records(info: Mapping[str, Any]) -> tuple[tuple[DnsRecord, ...], tuple[DnsRecord, ...]]:
    def parse(purpose: str) -> tuple[DnsRecord, ...]:
        found = info.get(f"{purpose}_dns_records")
        if not isinstance(found, list):
            return ()
        return tuple(
            DnsRecord(
                purpose=purpose,
                record_type=str(item.get("record_type", "")),
                name=str(item.get("name", "")),
                value=str(item.get("value", "")),
                priority=_optional(item.get("priority")),
                valid=_optional(item.get("valid")),
            )
            for item in found
            if isinstance(item, Mapping)
        )

    return parse("sending"), parse("receiving")


def _optional(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
