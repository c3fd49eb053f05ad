"""Payload-2.0 request decoding and the error-to-status mapping."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from tagmail.errors import (
    Conflict,
    DependencyUnavailable,
    InvalidInput,
    PayloadTooLarge,
    TagmailError,
    Unauthorized,
)
from tagmail.http import MAX_DECODED_BODY, HttpRequest, error_response


def event(
    body: bytes | str = b"", headers: dict[str, str] | None = None, base64_encoded: bool = False
) -> dict[str, Any]:
    raw = base64.b64encode(body).decode() if base64_encoded else body
    return {
        "version": "2.0",
        "rawPath": "/v1/track",
        "headers": headers or {},
        "body": raw.decode() if isinstance(raw, bytes) else raw,
        "isBase64Encoded": base64_encoded,
        "requestContext": {"http": {"method": "POST", "path": "/v1/track"}},
    }


def test_base64_and_gzip_bodies_are_decoded() -> None:
    document = b'{"userId": "u1"}'
    request = HttpRequest.from_event(event(gzip.compress(document), {"Content-Encoding": "gzip"}, base64_encoded=True))
    assert request.body == document
    assert request.method == "POST"


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"0" * (MAX_DECODED_BODY * 4))
    with pytest.raises(PayloadTooLarge):
        HttpRequest.from_event(event(bomb, {"content-encoding": "gzip"}, base64_encoded=True))


@pytest.mark.parametrize(
    ("body", "headers", "encoded"),
    [
        (b"not gzip", {"content-encoding": "gzip"}, True),
        (b"{}", {"content-encoding": "br"}, True),
        ("%%%not base64", {}, None),
    ],
)
def test_undecodable_bodies_are_bad_input(body: Any, headers: dict[str, str], encoded: bool | None) -> None:
    raw = event(body, headers, base64_encoded=bool(encoded))
    if encoded is None:
        raw["isBase64Encoded"] = True
    with pytest.raises(InvalidInput):
        HttpRequest.from_event(raw)


def test_basic_auth_user_is_the_write_key() -> None:
    token = base64.b64encode(b"wk_abc:").decode()
    assert HttpRequest.from_event(event(headers={"Authorization": f"Basic {token}"})).basic_auth_user == "wk_abc"
    assert HttpRequest.from_event(event()).basic_auth_user is None
    with pytest.raises(Unauthorized):
        _ = HttpRequest.from_event(event(headers={"authorization": "Basic !!!"})).basic_auth_user


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("bad", field="traits.email"), 400),
        (PayloadTooLarge("big"), 413),
        (Unauthorized("who"), 401),
        (Conflict("busy"), 409),
        (DependencyUnavailable("down"), 503),
        (TagmailError("unexpected"), 500),
    ],
)
def test_each_domain_error_has_one_status(error: TagmailError, status: int) -> None:
    response = error_response(error, {"access-control-allow-origin": "*"})
    assert response["statusCode"] == status
    body = json.loads(response["body"])
    assert body["success"] is False
    assert body["message"] == error.message
    assert response["headers"]["access-control-allow-origin"] == "*"


def test_errors_name_the_field() -> None:
    body = json.loads(error_response(InvalidInput("email is bad", field="batch[2].traits.email"))["body"])
    assert body["field"] == "batch[2].traits.email"
