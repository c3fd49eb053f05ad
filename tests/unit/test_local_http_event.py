"""API Gateway HTTP API emulation: routing, payload-2.0 events and response mapping."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from local.cors import CorsPolicy
from local.http_api import Route, Router, api_cors, build_event, is_text, to_http_response
from local.template import TemplateError

EVENTS = Path(__file__).resolve().parents[2] / "events" / "ingest"


class _Function:
    logical_id = "Fn"


def route(method: str, path: str) -> Route:
    return Route(method, path, _Function(), "a1b2c3d4e5")  # type: ignore[arg-type]


ROUTER = Router(
    [
        route("POST", "/v1/track"),
        route("OPTIONS", "/v1/{proxy+}"),
        route("ANY", "/files/{proxy+}"),
        route("GET", "/files/exact"),
        route("GET", "/items/{id}"),
        route("GET", "/items/{id}/parts/{part}"),
        route("ANY", "/items/special"),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("POST", "/v1/track", "POST /v1/track", {}),
        ("OPTIONS", "/v1/track", "OPTIONS /v1/{proxy+}", {"proxy": "track"}),
        ("GET", "/files/exact", "GET /files/exact", {}),
        ("POST", "/files/exact", "ANY /files/{proxy+}", {"proxy": "exact"}),
        ("DELETE", "/files/a/b%20c", "ANY /files/{proxy+}", {"proxy": "a/b c"}),
        ("GET", "/items/42", "GET /items/{id}", {"id": "42"}),
        ("GET", "/items/special", "ANY /items/special", {}),
        ("GET", "/items/7/parts/x", "GET /items/{id}/parts/{part}", {"id": "7", "part": "x"}),
    ],
)
def test_routes_match_like_api_gateway(method: str, path: str, route_key: str, parameters: dict[str, str]) -> None:
    found = ROUTER.match(method, path)
    assert found is not None
    assert (found[0].route_key, found[1]) == (route_key, parameters)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/track"), ("POST", "/v1"), ("GET", "/files"), ("GET", "/items/1/2")]
)
def test_unknown_routes_do_not_match(method: str, path: str) -> None:
    assert ROUTER.match(method, path) is None


def test_default_route_catches_everything_else() -> None:
    router = Router([route("ANY", "$default"), route("GET", "/a")])
    assert router.match("GET", "/a")[0].route_key == "GET /a"  # type: ignore[index]
    assert router.match("PUT", "/zzz")[0].route_key == "$default"  # type: ignore[index]


def test_two_functions_cannot_claim_one_route() -> None:
    with pytest.raises(TemplateError, match="POST /x"):
        Router([route("POST", "/x"), route("POST", "/x")])


def event_for(
    headers: list[tuple[str, str]], body: bytes = b"", query: str = "", method: str = "POST"
) -> dict[str, Any]:
    path = "/v1/track"
    found = ROUTER.match(method, path)
    assert found is not None
    return build_event(
        route=found[0],
        path_parameters=found[1],
        method=method,
        raw_path=path,
        raw_query=query,
        headers=headers,
        body=body,
        source_ip="203.0.113.10",
    )


def key_shape(document: Any) -> Any:
    """Nested key names (not values), to compare an event with a stored sample."""
    if isinstance(document, dict):
        return {key: key_shape(value) for key, value in document.items() if key != "headers"}
    return type(document).__name__


def test_event_has_the_shape_of_the_stored_sample() -> None:
    sample = json.loads((EVENTS / "track.json").read_text())
    event = event_for(
        [
            ("Host", "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"),
            ("Content-Type", "application/json"),
            ("User-Agent", "test"),
        ],
        b'{"a": 1}',
    )
    expected = key_shape(sample)
    expected.pop("pathParameters")  # the sample's route is /v1/{endpoint}; this router's is /v1/track
    assert key_shape(event) == expected
    assert set(sample["headers"]) - {"accept", "accept-encoding", "authorization", "content-length", "origin"} <= set(
        event["headers"]
    )


def test_optional_parts_appear_like_the_preflight_sample() -> None:
    sample = json.loads((EVENTS / "preflight.json").read_text())
    event = event_for([("Cookie", "_ga=GA1.1.1234567890.1733300000")], query="v=1", method="OPTIONS")
    assert key_shape(event) == key_shape(sample)


def test_headers_are_lower_cased_joined_and_cookies_split_out() -> None:
    event = event_for([("X-Thing", "a"), ("x-thing", "b"), ("Cookie", "a=1; b=2"), ("Connection", "keep-alive")], b"{}")
    assert event["headers"]["x-thing"] == "a,b"
    assert not {"cookie", "connection"} & set(event["headers"])
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-forwarded-for"] == "203.0.113.10"


def test_query_parameters_are_decoded_and_repeated_ones_joined() -> None:
    event = event_for([], query="a=1&a=2&b=x%20y&empty=")
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y&empty="
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}


def test_absent_parts_are_omitted() -> None:
    event = event_for([])
    assert not {"cookies", "queryStringParameters", "pathParameters", "body"} & set(event)
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["routeKey"] == "POST /v1/track"
    assert event["requestContext"]["stage"] == "$default"


@pytest.mark.parametrize(
    ("content_type", "encoding", "text"),
    [
        ("application/json", None, True),
        ("application/json; charset=utf-8", None, True),
        ("text/plain", None, True),
        ("application/vnd.api+json", None, True),
        ("application/xml", None, True),
        ("application/x-www-form-urlencoded", None, True),
        ("application/javascript", None, True),
        ("application/json", "gzip", False),
        ("application/octet-stream", None, False),
        ("image/png", None, False),
        ("multipart/form-data; boundary=x", None, False),
        (None, None, False),
    ],
)
def test_which_bodies_are_base64(content_type: str | None, encoding: str | None, text: bool) -> None:
    assert is_text(content_type, encoding) is text
    headers = [("Content-Type", content_type)] if content_type else []
    headers += [("Content-Encoding", encoding)] if encoding else []
    event = event_for(headers, b"\x1f\x8bdata")
    assert event["isBase64Encoded"] is not text
    if not text:
        assert base64.b64decode(event["body"]) == b"\x1f\x8bdata"


def test_response_with_status_code_maps_headers_cookies_and_base64() -> None:
    response = to_http_response(
        {"statusCode": 201, "headers": {"x-n": 1}, "cookies": ["a=1", "b=2"], "body": "aGk=", "isBase64Encoded": True}
    )
    assert response.status == 201
    assert response.headers == [("x-n", "1"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]
    assert response.body == b"hi"


def test_response_without_status_code_is_a_200_json_body() -> None:
    as_dict = to_http_response({"hello": "world"})
    assert (as_dict.status, json.loads(as_dict.body)) == (200, {"hello": "world"})
    as_text = to_http_response("plain text")
    assert (as_text.status, as_text.body) == (200, b"plain text")
    assert ("content-type", "application/json") in as_text.headers


def test_invalid_status_code_is_an_error() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        to_http_response({"statusCode": "nope"})


def test_cors_policy_answers_preflights_and_replaces_integration_headers() -> None:
    policy = CorsPolicy.from_configuration(
        {
            "AllowOrigins": ["https://shop.example.com"],
            "AllowMethods": ["get", "POST"],
            "AllowHeaders": ["X-A"],
            "ExposeHeaders": ["X-B"],
            "MaxAge": 60,
            "AllowCredentials": True,
        }
    )
    assert policy is not None
    assert policy.preflight_headers("https://shop.example.com", "POST", "x-a") == [
        ("access-control-allow-origin", "https://shop.example.com"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", "x-b"),
        ("access-control-allow-methods", "GET,POST"),
        ("access-control-allow-headers", "x-a"),
        ("access-control-max-age", "60"),
    ]
    assert policy.preflight_headers("https://evil.example", "POST", "") == []
    replaced = policy.replace_headers([("Access-Control-Allow-Origin", "*"), ("x-own", "1")], "https://evil.example")
    assert replaced == [("x-own", "1")]


def test_cors_true_allows_everything_and_absent_means_none() -> None:
    policy = CorsPolicy.from_configuration(True)
    assert policy is not None
    assert ("access-control-allow-methods", "DELETE") in policy.preflight_headers("https://a.example", "DELETE", "")
    assert api_cors({"Api": {}}) is None


def test_http_apis_with_authorizers_are_refused() -> None:
    with pytest.raises(TemplateError, match="authorizers"):
        api_cors({"Api": {"Auth": {"DefaultAuthorizer": "Jwt", "Authorizers": {"Jwt": {}}}}})
