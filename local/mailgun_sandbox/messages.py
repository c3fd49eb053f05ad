"""Accepted messages: the MIME Mailgun would build, one copy per recipient in batch sends."""

from __future__ import annotations

import email.policy
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses
from typing import Any

from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.forms import Upload
from local.mailgun_sandbox.validation import Address, SendRequest

MAX_USER_VARIABLE_BYTES = 4 * 1024  # longer user-variables values are cut in events and webhooks

_RECIPIENT_VARIABLE = re.compile(r"%recipient\.([^%\s]+)%")


def new_message_id(domain: str, now: datetime) -> str:
    """``20111114174239.1.B31A451A2E5422BB@domain`` (no angle brackets)."""
    return f"{now:%Y%m%d%H%M%S}.1.{secrets.token_hex(8).upper()}@{domain}"


def new_storage_key() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class StoredMessage:
    """One copy of an accepted message, addressed to ``recipients`` (envelope targets)."""

    id: str  # Message-Id without angle brackets; shared by every copy of a batch send
    storage_key: str
    domain: str
    sender: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    recipients: list[str]
    subject: str
    headers: dict[str, str]
    html: str | None
    text: str | None
    amp_html: str | None
    template: str | None
    tags: list[str]
    user_variables: dict[str, str]
    options: dict[str, str | list[str]]
    attachments: list[dict[str, Any]]
    raw_mime: str
    timestamp: float = field(default_factory=time.time)
    scheduled_for: float | None = None
    test_mode: bool = False
    recipient_variables: dict[str, Any] | None = None

    @property
    def size(self) -> int:
        return len(self.raw_mime.encode("utf-8", "surrogateescape"))

    @property
    def to_header(self) -> str:
        return self.headers.get("To", ", ".join(self.to))

    def truncated_user_variables(self) -> dict[str, str]:
        return {
            name: value.encode()[:MAX_USER_VARIABLE_BYTES].decode("utf-8", "ignore")
            for name, value in self.user_variables.items()
        }

    def as_json(self, *, full: bool = True) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "storage_key": self.storage_key,
            "domain": self.domain,
            "from": self.sender,
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "recipients": self.recipients,
            "subject": self.subject,
            "headers": self.headers,
            "html": self.html,
            "text": self.text,
            "amp_html": self.amp_html,
            "template": self.template,
            "tags": self.tags,
            "user_variables": self.user_variables,
            "options": self.options,
            "attachments": self.attachments,
            "timestamp": self.timestamp,
            "received_at": format_datetime(datetime.fromtimestamp(self.timestamp, UTC)),
            "scheduled_for": (
                format_datetime(datetime.fromtimestamp(self.scheduled_for, UTC)) if self.scheduled_for else None
            ),
            "test_mode": self.test_mode,
            "size": self.size,
            "recipient_variables": self.recipient_variables,
        }
        if full:
            document["raw_mime"] = self.raw_mime
        return document


def substitute(text: str | None, values: dict[str, str]) -> str | None:
    """Replace ``%recipient.x%`` and the built-in ``%…%`` variables; unknown ones stay as they are."""
    if text is None or "%" not in text:
        return text
    text = _RECIPIENT_VARIABLE.sub(lambda match: values.get(f"recipient.{match[1]}", match[0]), text)
    for name, value in values.items():
        if not name.startswith("recipient."):
            text = text.replace(f"%{name}%", value)
    return text


def recipient_values(
    address: Address, variables: dict[str, Any] | None, unsubscribe_url: str, tag_unsubscribe_url: str
) -> dict[str, str]:
    first, _, last = address.name.partition(" ")
    values = {
        "recipient": address.formatted,
        "recipient_email": address.email,
        "recipient_name": address.name,
        "recipient_fname": first,
        "recipient_lname": last,
        "unsubscribe_url": unsubscribe_url,
        "tag_unsubscribe_url": tag_unsubscribe_url,
        "mailing_list_unsubscribe_url": unsubscribe_url,
    }
    for key, value in (variables or {}).items():
        values[f"recipient.{key}"] = value if isinstance(value, str) else json.dumps(value)
    return values


UnsubscribeLinks = Callable[[Address, list[str]], tuple[str, str]]


def build_copies(
    request: SendRequest,
    *,
    domain: str,
    message_id: str,
    now: datetime,
    unsubscribe_links: UnsubscribeLinks,
) -> list[StoredMessage]:
    """The stored copies of a ``/messages`` send.

    With ``recipient-variables`` every recipient (to, cc and bcc) gets a copy addressed only to
    them, with its variables substituted; without, all recipients share one message whose To and
    Cc list everyone (Bcc is never a header). A send to one recipient is personalised either way.
    """
    recipients = request.recipients
    batch = request.recipient_variables is not None
    if batch or len(recipients) == 1:
        copies = []
        for address in recipients:
            variables = (request.recipient_variables or {}).get(address.key)
            values = recipient_values(address, variables, *unsubscribe_links(address, request.tags))
            to = [address] if batch else request.to
            cc = [] if batch else request.cc
            copies.append(
                _copy(
                    request,
                    domain=domain,
                    message_id=message_id,
                    now=now,
                    to=to,
                    cc=cc,
                    envelope=[address],
                    values=values,
                    variables=variables,
                )
            )
        return copies
    return [
        _copy(
            request,
            domain=domain,
            message_id=message_id,
            now=now,
            to=request.to,
            cc=request.cc,
            envelope=recipients,
            values=None,
            variables=None,
        )
    ]


def _copy(
    request: SendRequest,
    *,
    domain: str,
    message_id: str,
    now: datetime,
    to: list[Address],
    cc: list[Address],
    envelope: list[Address],
    values: dict[str, str] | None,
    variables: dict[str, Any] | None,
) -> StoredMessage:
    def fill(text: str | None) -> str | None:
        return substitute(text, values) if values is not None else text

    subject = fill(request.subject) or ""
    text, html, amp_html = fill(request.text), fill(request.html), fill(request.amp_html)
    headers = [(name, fill(value) or "") for name, value in request.headers]
    user_variables = {name: fill(value) or "" for name, value in request.user_variables.items()}
    sender = request.sender.formatted if request.sender else ""
    mime = _build_mime(
        sender=sender,
        to=[address.formatted for address in to],
        cc=[address.formatted for address in cc],
        subject=subject,
        text=text,
        html=html,
        amp_html=amp_html,
        headers=headers,
        user_variables=user_variables,
        message_id=message_id,
        date=now,
        attachments=request.attachments,
        inline=request.inline,
    )
    in_envelope = {address.key for address in envelope}
    return StoredMessage(
        id=message_id,
        storage_key=new_storage_key(),
        domain=domain,
        sender=sender,
        to=[address.formatted for address in to],
        cc=[address.formatted for address in cc],
        bcc=[address.formatted for address in request.bcc if address.key in in_envelope],
        recipients=[address.email for address in envelope],
        subject=subject,
        headers=_header_dict(mime),
        html=html,
        text=text,
        amp_html=amp_html,
        template=request.template,
        tags=list(request.tags),
        user_variables=user_variables,
        options=dict(request.options),
        attachments=_attachment_list(request.attachments, request.inline),
        raw_mime=mime.as_string(),
        timestamp=now.timestamp(),
        scheduled_for=request.deliver_at.timestamp() if request.deliver_at else None,
        test_mode=request.test_mode,
        recipient_variables=variables,
    )


def _attachment_list(attachments: list[Upload], inline: list[Upload]) -> list[dict[str, Any]]:
    return [
        {"filename": upload.filename, "content-type": upload.content_type, "size": len(upload.data)}
        for upload in [*attachments, *inline]
    ]


def _header_dict(message: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else str(value)
    return headers


def _build_mime(
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    subject: str,
    text: str | None,
    html: str | None,
    amp_html: str | None,
    headers: list[tuple[str, str]],
    user_variables: dict[str, str],
    message_id: str,
    date: datetime,
    attachments: list[Upload],
    inline: list[Upload],
) -> EmailMessage:
    message = EmailMessage(policy=email.policy.default)
    try:
        message["From"] = sender
        if to:
            message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        message["Subject"] = subject
        message["Date"] = format_datetime(date)
        message["Message-Id"] = f"<{message_id}>"
        if user_variables:
            message["X-Mailgun-Variables"] = json.dumps(user_variables, ensure_ascii=False)
        for name, value in headers:
            del message[name]
            message[name] = value
    except (ValueError, TypeError) as exc:
        raise ApiError.message(400, f"Invalid header: {exc}") from exc

    bodies = [(body, subtype) for body, subtype in ((text, "plain"), (amp_html, "x-amp-html"), (html, "html")) if body]
    if not bodies:
        bodies = [(text or "", "plain")]
    first, *others = bodies
    message.set_content(first[0], subtype=first[1])
    for body, subtype in others:
        message.add_alternative(body, subtype=subtype)
    if inline:
        html_part = message.get_body(preferencelist=("html",))
        holder = html_part if isinstance(html_part, EmailMessage) else message
        for upload in inline:
            maintype, _, subtype = upload.content_type.partition("/")
            holder.add_related(
                upload.data,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                cid=f"<{upload.filename}>",
                filename=upload.filename,
                disposition="inline",
            )
    for upload in attachments:
        maintype, _, subtype = upload.content_type.partition("/")
        if maintype == "text":
            message.add_attachment(upload.data.decode("utf-8", "replace"), subtype=subtype, filename=upload.filename)
        else:
            message.add_attachment(
                upload.data,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=upload.filename,
            )
    return message


def copy_from_mime(request: SendRequest, *, domain: str, now: datetime) -> StoredMessage:
    """The stored message of a ``/messages.mime`` send: the MIME as given, h:/v: options added."""
    assert request.mime is not None
    message = BytesParser(policy=email.policy.default).parsebytes(request.mime)
    if not isinstance(message, EmailMessage):
        raise ApiError.message(400, "malformed MIME message")
    message_id = str(message.get("Message-Id", "")).strip().strip("<>") or new_message_id(domain, now)
    changed = "Message-Id" not in message
    if changed:
        message["Message-Id"] = f"<{message_id}>"
    for name, value in request.headers:
        del message[name]
        message[name] = value
        changed = True
    if request.user_variables:
        del message["X-Mailgun-Variables"]
        message["X-Mailgun-Variables"] = json.dumps(request.user_variables, ensure_ascii=False)
        changed = True
    raw = message.as_string() if changed else request.mime.decode("utf-8", "replace")
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = [
        {
            "filename": part.get_filename() or "",
            "content-type": part.get_content_type(),
            "size": len(part.get_payload(decode=True) or b""),
        }
        for part in message.iter_attachments()
    ]
    return StoredMessage(
        id=message_id,
        storage_key=new_storage_key(),
        domain=domain,
        sender=str(message.get("From", "")),
        to=[formatted for _, formatted in _addresses(message.get_all("To", []))],
        cc=[formatted for _, formatted in _addresses(message.get_all("Cc", []))],
        bcc=[],
        recipients=[address.email for address in request.recipients],
        subject=str(message.get("Subject", "")),
        headers=_header_dict(message),
        html=html_part.get_content() if isinstance(html_part, EmailMessage) else None,
        text=text_part.get_content() if isinstance(text_part, EmailMessage) else None,
        amp_html=None,
        template=request.template,
        tags=list(request.tags),
        user_variables=dict(request.user_variables),
        options=dict(request.options),
        attachments=attachments,
        raw_mime=raw,
        timestamp=now.timestamp(),
        scheduled_for=request.deliver_at.timestamp() if request.deliver_at else None,
        test_mode=request.test_mode,
    )


def _addresses(values: list[Any]) -> list[tuple[str, str]]:
    return [(addr, f"{name} <{addr}>" if name else addr) for name, addr in getaddresses([str(v) for v in values])]
