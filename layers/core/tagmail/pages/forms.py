"""Reading the HTML forms (and RFC 8058 one-click POSTs) the pages receive."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import parse_qsl

from tagmail.errors import InvalidInput, PayloadTooLarge

# A one-click POST is 26 bytes, the page's own form a little more.
MAX_FORM_BODY = 16 * 1024


def read_form(content_type: str, body: bytes) -> dict[str, str]:
    """Fields of an application/x-www-form-urlencoded or multipart/form-data body (first value wins)."""
    if len(body) > MAX_FORM_BODY:
        raise PayloadTooLarge(f"a form is at most {MAX_FORM_BODY} bytes", field="body")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return _multipart(content_type, body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the form is not UTF-8", field="body") from exc
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text.strip(), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise InvalidInput("the multipart form is malformed", field="body")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            fields.setdefault(name, payload.decode(part.get_content_charset() or "utf-8", "replace").strip())
    return fields
