"""API Gateway HTTP API (payload format 2.0) requests and responses, and the one place where
domain errors become HTTP statuses."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tagmail.errors import (
    Conflict,
    DependencyUnavailable,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Rejected,
    TagmailError,
    Unauthorized,
)

# Largest body accepted after decompression; bigger ones are refused, not inflated (zip bombs).
MAX_DECODED_BODY = 1024 * 1024

_STATUS: list[tuple[type[TagmailError], int]] = [
    (PayloadTooLarge, 413),
    (InvalidInput, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    # Mailgun stops retrying a webhook only on 406.
    (Rejected, 406),
    (DependencyUnavailable, 503),
]


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    path_parameters: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HttpRequest:
        """Build from an API Gateway payload-2.0 event; refuses bodies that cannot be decoded."""
        http = event.get("requestContext", {}).get("http", {})
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw, validate=True)
            except binascii.Error as exc:
                raise InvalidInput("the request body is not valid base64", field="body") from exc
        else:
            body = raw.encode("utf-8")
        return cls(
            method=http.get("method", "GET").upper(),
            path=event.get("rawPath") or http.get("path", "/"),
            headers=headers,
            body=_decompress(body, headers.get("content-encoding", "")),
            path_parameters=event.get("pathParameters") or {},
        )

    @property
    def basic_auth_user(self) -> str | None:
        """The user name of HTTP Basic auth (Segment puts the write key there, password empty)."""
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not value:
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Authorization header is not valid Basic auth") from None
        return decoded.partition(":")[0] or None


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidInput(f"unsupported Content-Encoding {encoding!r}; use gzip", field="content-encoding")
    inflater = zlib.decompressobj(wbits=47 if encoding == "gzip" else 15)
    try:
        decoded = inflater.decompress(body, MAX_DECODED_BODY + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the request body is not valid {encoding}", field="body") from exc
    if len(decoded) > MAX_DECODED_BODY or inflater.unconsumed_tail:
        raise PayloadTooLarge("the decompressed request body is too large", field="body")
    return decoded


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json; charset=utf-8", "cache-control": "no-store", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def status_of(error: TagmailError) -> int:
    return next((code for kind, code in _STATUS if isinstance(error, kind)), 500)


def error_response(error: TagmailError, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    status = status_of(error)
    body: dict[str, Any] = {"success": False, "code": error.code, "message": error.message}
    field_name = getattr(error, "field", None)
    if field_name:
        body["field"] = field_name
    extra = {"www-authenticate": 'Basic realm="tagmail"'} if status == 401 else {}
    if status == 503:
        extra["retry-after"] = "1"
    return json_response(status, body, {**(headers or {}), **extra})
