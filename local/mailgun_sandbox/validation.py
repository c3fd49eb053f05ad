"""The checks ``POST /v3/{domain}/messages`` makes, with Mailgun's exact 400 messages.

Where Mailgun's documentation gives no wording (bad option values, a delivery time too far
ahead), the messages here are the sandbox's own and say so in README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.forms import Form, Upload

MAX_RECIPIENTS = 1000
MAX_OPTIONS_BYTES = 16 * 1024
MAX_TAGS = 10  # the help centre's and mailgun-go's limit; current docs say 3 (see README)
MAX_TAG_LENGTH = 128
OPTION_PREFIXES = ("o:", "h:", "v:", "t:")
YES_NO = frozenset({"yes", "no", "true", "false"})
YES_NO_HTMLONLY = YES_NO | {"htmlonly"}
# Options whose values Mailgun restricts to an enumeration.
OPTION_VALUES: dict[str, frozenset[str]] = {
    "o:testmode": YES_NO,
    "o:tracking": YES_NO_HTMLONLY,
    "o:tracking-clicks": YES_NO_HTMLONLY,
    "o:tracking-opens": YES_NO,
    "o:tracking-pixel-location-top": YES_NO_HTMLONLY,
    "o:dkim": YES_NO,
    "o:require-tls": YES_NO,
    "o:skip-verification": YES_NO,
    "t:text": frozenset({"yes"}),
}

_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_QUOTED_LOCAL = re.compile(r'^"([^"\\\r\n]|\\.)*"$')
_DOMAIN = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


@dataclass(frozen=True)
class Address:
    """One mailbox: its display name (may be empty) and addr-spec."""

    name: str
    email: str

    @property
    def formatted(self) -> str:
        from email.headerregistry import Address as HeaderAddress

        if not self.name:
            return self.email
        local, _, domain = self.email.rpartition("@")
        return str(HeaderAddress(display_name=self.name, username=local, domain=domain))

    @property
    def key(self) -> str:
        return self.email.lower()


def valid_email(address: str) -> bool:
    """An RFC 5321 addr-spec: a dot-atom or quoted local part, and a DNS domain with a dot."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(address) > 254 or len(local) > 64:
        return False
    if not (_LOCAL_PART.match(local) or _QUOTED_LOCAL.match(local)):
        return False
    try:
        domain.encode("ascii")
    except UnicodeEncodeError:
        domain = domain.encode("idna").decode("ascii") if _idna_ok(domain) else ""
    return bool(_DOMAIN.match(domain))


def _idna_ok(domain: str) -> bool:
    try:
        domain.encode("idna")
    except UnicodeError:
        return False
    return True


def parse_addresses(values: list[str], field_name: str) -> list[Address]:
    """Every address in the (repeated, comma-separated) field, or 400 naming the field."""
    error = ApiError.message(400, f"{field_name} parameter is not a valid address. please check documentation")
    addresses: list[Address] = []
    for value in values:
        if not value.strip():
            raise error
        pairs = getaddresses([value])
        pieces = [piece for piece in _split_outside_quotes(value) if piece.strip()]
        if len(pairs) != len(pieces):
            raise error
        for name, addr in pairs:
            if not valid_email(addr):
                raise error
            addresses.append(Address(name, addr))
    return addresses


def _split_outside_quotes(value: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quoted, angle = False, 0
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angle += 1
        elif char == ">" and not quoted:
            angle = max(0, angle - 1)
        if char == "," and not quoted and not angle:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def dedupe(addresses: list[Address], seen: set[str]) -> list[Address]:
    unique = []
    for address in addresses:
        if address.key not in seen:
            seen.add(address.key)
            unique.append(address)
    return unique


def clean_tags(values: list[str]) -> list[str]:
    """ASCII only, ≤128 characters, at most 10: extra tags are dropped, never refused."""
    tags: list[str] = []
    for value in values:
        tag = value.encode("ascii", "ignore").decode("ascii").strip()[:MAX_TAG_LENGTH]
        if tag and tag.lower() not in (known.lower() for known in tags):
            tags.append(tag)
    return tags[:MAX_TAGS]


def flag(value: str | None, default: bool) -> bool:
    """yes/true → True, no/false → False; htmlonly counts as on."""
    if value is None:
        return default
    return value.strip().lower() in ("yes", "true", "htmlonly")


@dataclass
class SendRequest:
    """A validated send: what ``/messages`` or ``/messages.mime`` was asked to do."""

    sender: Address | None
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    subject: str | None
    text: str | None
    html: str | None
    amp_html: str | None
    template: str | None
    tags: list[str]
    headers: list[tuple[str, str]]
    user_variables: dict[str, str]
    options: dict[str, str | list[str]]
    recipient_variables: dict[str, dict[str, Any]] | None
    deliver_at: datetime | None
    attachments: list[Upload] = field(default_factory=list)
    inline: list[Upload] = field(default_factory=list)
    mime: bytes | None = None  # the whole message, for /messages.mime

    @property
    def recipients(self) -> list[Address]:
        return [*self.to, *self.cc, *self.bcc]

    @property
    def test_mode(self) -> bool:
        return flag(_one(self.options.get("o:testmode")), default=False)


def _one(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def validate_send(form: Form, *, now: datetime, max_schedule_days: int = 3, mime: bool = False) -> SendRequest:
    """The form of a send call as a :class:`SendRequest`, or the 400 Mailgun would answer."""
    message_file = _message_file(form) if mime else None
    sender_values = form.all("from")
    if not mime and not any(value.strip() for value in sender_values):
        raise ApiError.message(400, "from parameter is missing")
    to_values = form.all("to")
    if not any(value.strip() for value in to_values):
        raise ApiError.message(400, "to parameter is missing")
    text, html, amp_html, template = (form.get(name) for name in ("text", "html", "amp-html", "template"))
    subject = form.get("subject")
    if not mime:
        _check_content(text, html, amp_html, template, subject)
    _check_options_size(form)

    sender = parse_addresses(sender_values[-1:], "from")[0] if sender_values else None
    seen: set[str] = set()
    to = dedupe(parse_addresses(to_values, "to"), seen)
    cc = dedupe(parse_addresses(form.all("cc"), "cc"), seen)
    bcc = dedupe(parse_addresses(form.all("bcc"), "bcc"), seen)
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise ApiError.message(400, f"Too many recipients, max is {MAX_RECIPIENTS}")

    headers, user_variables, options = _send_options(form)
    when = form.get("o:deliverytime")
    return SendRequest(
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        text=text,
        html=html,
        amp_html=amp_html,
        template=template,
        tags=clean_tags(form.all("o:tag")),
        headers=headers,
        user_variables=user_variables,
        options=options,
        recipient_variables=_recipient_variables(form.get("recipient-variables")),
        deliver_at=_delivery_time(when, now, max_schedule_days) if when is not None else None,
        attachments=form.files("attachment"),
        inline=form.files("inline"),
        mime=message_file,
    )


def _message_file(form: Form) -> bytes:
    files = form.files("message")
    if not files:
        if form.all("message"):
            raise ApiError.message(400, "'message' parameter is not a file")
        raise ApiError.message(400, "message parameter is missing")
    return files[-1].data


def _check_content(
    text: str | None, html: str | None, amp_html: str | None, template: str | None, subject: str | None
) -> None:
    if text is None and html is None and amp_html is None and template is None:
        raise ApiError.message(
            400, "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified"
        )
    if html is not None and template is not None:
        raise ApiError.message(400, "Only one parameters 'html' or 'template' is allowed")
    if subject is None and template is None:
        raise ApiError.message(400, "subject parameter is missing")


def _check_options_size(form: Form) -> None:
    option_bytes = sum(
        len(name.encode()) + len(value.encode())
        for name, value in form.fields
        if name.startswith(OPTION_PREFIXES) and isinstance(value, str)
    )
    if option_bytes > MAX_OPTIONS_BYTES:
        raise ApiError.message(400, "Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total")


def _recipient_variables(raw: str | None) -> dict[str, dict[str, Any]] | None:
    if raw is None:
        return None
    try:
        variables = json.loads(raw)
    except ValueError:
        variables = None
    if not isinstance(variables, dict) or not all(isinstance(value, dict) for value in variables.values()):
        raise ApiError.message(400, "'recipient-variables' parameter is not a valid JSON")
    return {str(key).lower(): value for key, value in variables.items()}


def _send_options(form: Form) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, str | list[str]]]:
    """The h: headers, v: user variables and o:/t: options (tags apart), checked."""
    headers: list[tuple[str, str]] = []
    user_variables: dict[str, str] = {}
    options: dict[str, str | list[str]] = {}
    for name, value in form.fields:
        if not isinstance(value, str):
            continue
        if name.startswith("h:"):
            headers.append((_header_name(name[2:]), " ".join(value.splitlines())))
        elif name.startswith("v:"):
            user_variables[name[2:]] = value
        elif name.startswith(("o:", "t:")) and name != "o:tag":
            allowed = OPTION_VALUES.get(name)
            if allowed is not None and value.strip().lower() not in allowed:
                raise ApiError.message(
                    400, f"'{name}' parameter is not valid: '{value}', expected one of {', '.join(sorted(allowed))}"
                )
            previous = options.get(name)
            if previous is None:
                options[name] = value
            else:
                options[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return headers, user_variables, options


def _header_name(header: str) -> str:
    if not header.isascii():
        raise ApiError.message(400, f"Header name must be pure ASCII: {header}")
    if not re.fullmatch(r"[!-9;-~]+", header):
        raise ApiError.message(400, f"Invalid header name: {header}")
    return header


def _delivery_time(value: str, now: datetime, max_days: int) -> datetime | None:
    text = value.strip()
    try:
        moment = datetime.fromtimestamp(float(text), UTC) if re.fullmatch(r"\d+(\.\d+)?", text) else None
        if moment is None:
            moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise ApiError.message(400, f"{value} is not an RFC-2822 compliant date") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment - now > timedelta(days=max_days):
        raise ApiError.message(400, f"invalid delivery time format: more than {max_days} days in the future")
    return moment if moment > now else None
