"""A local API Gateway HTTP API: routes HttpApi events to handlers with payload format 2.0.

Events and responses follow AWS's payload-format-2.0 rules (lower-cased headers joined with
",", cookies split out, base64 bodies for non-text content, the "no statusCode means 200 JSON"
response rule). GET /web/... also serves the repository's web/ folder, as a local convenience.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import mimetypes
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.cors import CorsPolicy
from local.runner import LocalFunction
from local.template import ACCOUNT_ID, TemplateError

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_MAX_DRAIN_BYTES = 10 * MAX_BODY_BYTES  # past this, an oversized request just gets its connection closed
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/javascript",
)
_FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection"}
_STATIC_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json"}


@dataclass(frozen=True)
class Route:
    method: str  # upper-case, or ANY
    path: str  # "/v1/{proxy+}", or "$default"
    function: LocalFunction
    api_id: str

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    @property
    def segments(self) -> list[str]:
        return [part for part in self.path.split("/") if part]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        return _match_segments(self.segments, [part for part in path.split("/") if part])

    def specificity(self) -> tuple[Any, ...]:
        """Sort key: $default last, greedy after plain, literals before {params}, ANY last."""
        kinds = [2 if part.endswith("+}") else 1 if part.startswith("{") else 0 for part in self.segments]
        return (self.path == "$default", 2 in kinds, kinds, self.method == "ANY")


def _refuse_authorizer(where: str, auth: Any) -> None:
    """Authorizers are not emulated; running the API open instead would hide that silently."""
    if not auth:
        return
    if auth.get("Authorizers") or auth.get("DefaultAuthorizer") or auth.get("Authorizer", "NONE") != "NONE":
        raise TemplateError(f"{where}: HTTP API authorizers are not emulated by the local stack")


def api_cors(apis: dict[str, dict[str, Any]]) -> CorsPolicy | None:
    """The one CORS policy of the template's HTTP APIs (they share one local server)."""
    for logical_id, props in apis.items():
        _refuse_authorizer(logical_id, props.get("Auth"))
    policies = {CorsPolicy.from_configuration(props.get("CorsConfiguration")) for props in apis.values()}
    if len(policies) > 1:
        raise TemplateError("HTTP APIs with different CorsConfiguration cannot share the local server")
    return policies.pop() if policies else None


def _match_segments(wanted: list[str], given: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, segment in enumerate(wanted):
        if segment.endswith("+}"):
            # A greedy variable takes one or more of the remaining segments.
            if index >= len(given):
                return None
            parameters[segment[1:-2]] = unquote("/".join(given[index:]))
            return parameters
        if index >= len(given) or not (segment.startswith("{") or segment == given[index]):
            return None
        if segment.startswith("{"):
            parameters[segment[1:-1]] = unquote(given[index])
    return parameters if len(given) == len(wanted) else None


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda route: route.specificity())
        seen: set[str] = set()
        for route in self.routes:
            if route.route_key in seen:
                raise TemplateError(f"two functions claim the route {route.route_key}")
            seen.add(route.route_key)

    @classmethod
    def from_functions(cls, functions: Iterable[LocalFunction]) -> Router:
        routes = []
        for function in functions:
            for source in function.events:
                if source.type != "HttpApi":
                    continue
                props = source.properties
                where = f"{function.logical_id}.{source.name}"
                if str(props.get("PayloadFormatVersion", "2.0")) != "2.0":
                    raise TemplateError(f"{where}: only payload format 2.0 runs locally")
                _refuse_authorizer(where, props.get("Auth"))
                path = props.get("Path", "$default")
                method = str(props.get("Method", "ANY")).upper()
                routes.append(Route(method, path, function, str(props.get("ApiId", "local"))))
        return cls(routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None


def is_text(content_type: str | None, content_encoding: str | None) -> bool:
    """Whether API Gateway passes a body as text rather than base64."""
    if content_encoding or not content_type:
        return False
    media_type = content_type.split(";")[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or (media_type.startswith("application/") and media_type.endswith("+json"))
    )


def build_event(
    *,
    route: Route,
    path_parameters: dict[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    port: int = 443,
    protocol: str = "HTTP/1.1",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload-format-2.0 event API Gateway would send for this request."""
    now = now or datetime.now(UTC)
    joined: dict[str, str] = {}
    for raw_name, value in headers:
        name = raw_name.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    cookie_header = joined.pop("cookie", None)
    joined.pop("connection", None)  # hop-by-hop; API Gateway does not forward it
    # What API Gateway adds in front of every integration.
    forwarded_for = joined.get("x-forwarded-for")
    joined["x-forwarded-for"] = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    joined["x-forwarded-port"] = str(port)
    joined["x-forwarded-proto"] = "http"
    joined.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")
    domain = joined.get("host", f"{route.api_id}.execute-api.us-east-1.amazonaws.com")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    request_id = base64.b64encode(secrets.token_bytes(10)).decode()[:15] + "="
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookie_header:
        event["cookies"] = [part.strip() for part in cookie_header.split(";") if part.strip()]
    event["headers"] = joined
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": route.api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    encoded = bool(body) and not is_text(joined.get("content-type"), joined.get("content-encoding"))
    if body:
        event["body"] = base64.b64encode(body).decode() if encoded else body.decode("utf-8", "replace")
    event["isBase64Encoded"] = encoded
    return event


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, document: Any) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(document).encode())


def to_http_response(result: Any) -> HttpResponse:
    """Map a handler's return value the way payload format 2.0 does."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # No statusCode: the whole result is a 200 JSON body (a str is sent as-is).
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], text.encode())
    status = int(result["statusCode"])
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    return HttpResponse(status, headers, data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: HttpApiServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections too, so their handler threads finish with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http request", extra={"line": format % args})

    def _handle(self) -> None:
        response = self.server.api.respond(self)
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _FRAMING_HEADERS:  # the server frames the body itself
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def read_body(self) -> bytes | None:
        """The request body, or None when it is over the limit.

        An oversized body is still read (up to a bound) so the client gets its 413 rather than
        a connection reset in the middle of sending.
        """
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = self._chunked()
        else:
            chunks = self._sized(int(self.headers.get("Content-Length") or 0))
        parts: list[bytes] = []
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total <= MAX_BODY_BYTES:
                parts.append(chunk)
            elif total > _MAX_DRAIN_BYTES:
                self.close_connection = True
                break
        return b"".join(parts) if total <= MAX_BODY_BYTES else None

    def _sized(self, length: int) -> Iterator[bytes]:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk

    def _chunked(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield from self._sized(size)
            self.rfile.readline()


class HttpApiServer:
    """ThreadingHTTPServer on 127.0.0.1 routing requests to the template's HttpApi handlers."""

    def __init__(
        self, router: Router, port: int = 0, web_root: Path | None = None, cors: CorsPolicy | None = None
    ) -> None:
        self.router = router
        self.cors = cors
        self.requested_port = port
        self.web_root = web_root.resolve() if web_root else None
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        server = _Server((HOST, self.requested_port), _RequestHandler)
        server.api = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="local-http-api",
            daemon=True,
        )
        self._thread.start()
        logger.info("http api started", extra={"url": self.url, "routes": len(self.router.routes)})

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.info("http api stopped", extra={"url": self.url})

    def respond(self, request: _RequestHandler) -> HttpResponse:
        split = urlsplit(request.path)
        body = request.read_body()
        if body is None:
            return json_response(413, {"message": "Request Entity Too Large"})
        if (
            self.web_root is not None
            and request.command in ("GET", "HEAD")
            and (split.path == "/web" or split.path.startswith("/web/"))
        ):
            return self._static(unquote(split.path[len("/web") :]))
        origin = request.headers.get("Origin")
        requested_method = request.headers.get("Access-Control-Request-Method")
        if self.cors and request.command == "OPTIONS" and origin and requested_method:
            requested_headers = request.headers.get("Access-Control-Request-Headers", "")
            return HttpResponse(204, self.cors.preflight_headers(origin, requested_method, requested_headers), b"")
        response = self._invoke(request, split.path, split.query, body)
        if self.cors:
            response.headers = self.cors.replace_headers(response.headers, origin)
        return response

    def _invoke(self, request: _RequestHandler, path: str, query: str, body: bytes) -> HttpResponse:
        found = self.router.match(request.command, path)
        if found is None:
            return json_response(404, {"message": "Not Found"})
        route, path_parameters = found
        event = build_event(
            route=route,
            path_parameters=path_parameters,
            method=request.command,
            raw_path=path,
            raw_query=query,
            headers=request.headers.items(),
            body=body,
            source_ip=request.client_address[0],
            port=self.port,
            protocol=request.request_version,
        )
        started = time.monotonic()
        try:
            response = to_http_response(route.function(event))
        except Exception:
            logger.exception("handler failed", extra={"function": route.function.logical_id, "route": route.route_key})
            return json_response(500, {"message": "Internal Server Error"})
        response.headers.append(("apigw-requestid", event["requestContext"]["requestId"]))
        logger.info(
            "http api request",
            extra={
                "route": route.route_key,
                "status": response.status,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response

    def _static(self, relative: str) -> HttpResponse:
        assert self.web_root is not None
        target = (self.web_root / relative.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        # Refuse anything that resolves outside web/ (../, symlinks).
        if not target.is_relative_to(self.web_root) or not target.is_file():
            return json_response(404, {"message": "Not Found"})
        content_type = _STATIC_TYPES.get(target.suffix) or (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        if content_type.startswith("text/") or content_type == "application/json":
            content_type += "; charset=utf-8"
        return HttpResponse(200, [("content-type", content_type)], target.read_bytes())
