"""Request bodies as Mailgun takes them: url-encoded forms, multipart/form-data (with files), JSON.

Field order and repetition are kept (``to``, ``cc``, ``o:tag``, ``attachment`` may repeat).
"""

from __future__ import annotations

import email.policy
import gzip
import json
import zlib
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from local.mailgun_sandbox.errors import ApiError


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart form."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    """Ordered form fields; text values are ``str``, file parts are :class:`Upload`."""

    fields: list[tuple[str, str | Upload]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name and isinstance(value, str)]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.all(name)
        return values[-1] if values else default

    def files(self, name: str) -> list[Upload]:
        return [value for key, value in self.fields if key == name and isinstance(value, Upload)]

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.fields)

    def names(self) -> list[str]:
        return list(dict.fromkeys(key for key, _ in self.fields))


def decompress(body: bytes, content_encoding: str | None) -> bytes:
    """Undo ``Content-Encoding: gzip``/``deflate``; limits apply to what comes out."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise ApiError.message(400, "malformed request body: cannot decompress") from exc
    raise ApiError.message(400, f"Unsupported content encoding: {encoding}")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_form(content_type: str | None, body: bytes) -> Form:
    """A url-encoded or multipart/form-data body as a :class:`Form`; 400 for anything else."""
    kind = media_type(content_type)
    if kind == "application/x-www-form-urlencoded" or (kind == "" and not body):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError.message(400, "malformed application/x-www-form-urlencoded request") from exc
        return Form(list(parse_qsl(text, keep_blank_values=True)))
    if kind == "multipart/form-data":
        return _parse_multipart(content_type or "", body)
    raise ApiError.message(
        400,
        "Invalid request content type, expected multipart/form-data or application/x-www-form-urlencoded",
    )


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError.message(400, "Invalid JSON in request body") from exc


def _parse_multipart(content_type: str, body: bytes) -> Form:
    """Split the body on its boundary by hand, so file parts keep their exact bytes."""
    malformed = ApiError.message(400, "malformed multipart/form-data request")
    header = BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode())
    boundary = header.get_boundary()
    if not boundary:
        raise malformed
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter):
        _, found, rest = body.partition(b"\r\n" + delimiter)
        if not found:
            raise malformed
        body = delimiter + rest
    chunks = body.split(b"\r\n" + delimiter)
    chunks[0] = chunks[0][len(delimiter) :]
    if not chunks[-1].startswith(b"--"):
        raise malformed  # no closing delimiter
    form = Form()
    for chunk in chunks[:-1]:
        head, found, data = chunk.partition(b"\r\n\r\n")
        if not found:
            raise malformed
        part = BytesParser(policy=email.policy.HTTP).parsebytes(head.lstrip(b"\r\n") + b"\r\n\r\n")
        form.fields.append(_field(part, data, malformed))
    return form


def _field(part: Message, data: bytes, malformed: ApiError) -> tuple[str, str | Upload]:
    name = part.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        raise malformed
    encoding = (part.get("Content-Transfer-Encoding") or "").strip().lower()
    if encoding in ("base64", "quoted-printable"):
        part.set_payload(data)
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else data
    filename = part.get_filename()
    if filename is not None:
        return name, Upload(filename, part.get_content_type(), data)
    charset = part.get_content_charset() or "utf-8"
    try:
        return name, data.decode(charset, errors="replace")
    except LookupError:
        return name, data.decode("utf-8", errors="replace")
