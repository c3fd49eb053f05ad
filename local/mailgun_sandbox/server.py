"""The HTTP side: Mailgun's routes (auth, limits, faults) and the sandbox's own /sandbox/ routes."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.mailgun_sandbox import page
from local.mailgun_sandbox.errors import ApiError
from local.mailgun_sandbox.events import read_page_token
from local.mailgun_sandbox.faults import make_fault
from local.mailgun_sandbox.forms import Form, decompress, media_type, parse_form, parse_json

if TYPE_CHECKING:
    from local.mailgun_sandbox.sandbox import MailgunSandbox

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = int(52.4 * 1024 * 1024)  # Mailgun answers 413 past 52.4 MiB
_MAX_DRAIN_BYTES = 4 * MAX_BODY_BYTES  # past this an oversized request just loses its connection
_CHUNK = 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes
    params: dict[str, str]

    def form(self) -> Form:
        return parse_form(self.headers.get("Content-Type"), self.body)

    def is_json(self) -> bool:
        return media_type(self.headers.get("Content-Type")) == "application/json"


@dataclass
class Response:
    status: int
    body: Any  # dict/list → JSON, str → text/plain, bytes → as is
    content_type: str | None = None
    headers: dict[str, str] | None = None


Handler = Callable[["MailgunSandbox", Request], Response | dict[str, Any] | list[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    mailgun: bool  # a Mailgun API route: needs the API key, may be faulted
    messages: bool = False  # a send route: a bad key gets the bare body "Forbidden"


ROUTES: list[Route] = []


def route(method: str, pattern: str, *, mailgun: bool = True, messages: bool = False) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(f"^{pattern}$"), handler, mailgun, messages))
        return handler

    return register


_D = r"(?P<domain>[^/]+)"
_KIND = r"(?P<kind>bounces|unsubscribes|complaints)"


# --- Messages ------------------------------------------------------------------------------------


@route("POST", rf"/v3/{_D}/messages", messages=True)
def send_message(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.send(request.params["domain"], request.form())


@route("POST", rf"/v3/{_D}/messages\.mime", messages=True)
def send_mime(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    if media_type(request.headers.get("Content-Type")) != "multipart/form-data":
        raise ApiError.message(400, "malformed multipart/form-data request")
    return sandbox.send(request.params["domain"], request.form(), mime=True)


@route("GET", rf"/v3/domains/{_D}/messages/(?P<key>[^/]+)")
def stored_message(sandbox: MailgunSandbox, request: Request) -> Response | dict[str, Any]:
    message = sandbox.stored_message(request.params["domain"], request.params["key"])
    if "message/rfc2822" in (request.headers.get("Accept") or ""):
        return Response(
            200,
            {
                "body-mime": message.raw_mime,
                "recipients": ", ".join(message.recipients),
                "sender": message.sender,
                "from": message.sender,
                "subject": message.subject,
            },
        )
    return {
        "recipients": ", ".join(message.recipients),
        "sender": message.sender,
        "from": message.sender,
        "subject": message.subject,
        "body-html": message.html or "",
        "body-plain": message.text or "",
        "stripped-html": message.html or "",
        "stripped-text": message.text or "",
        "message-headers": [[name, value] for name, value in message.headers.items()],
        "attachments": message.attachments,
        "Message-Id": f"<{message.id}>",
    }


# --- Domains -------------------------------------------------------------------------------------


@route("GET", r"/v[34]/domains")
def list_domains(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.list_domains(request.query)


@route("POST", r"/v[34]/domains")
def create_domain(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.create_domain(request.form())


@route("GET", rf"/v[34]/domains/{_D}")
def get_domain(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.domain(request.params["domain"])


@route("PUT", rf"/v[34]/domains/{_D}")
def update_domain(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.update_domain(request.params["domain"], request.form())


@route("DELETE", rf"/v3/domains/{_D}")
def delete_domain(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.delete_domain(request.params["domain"])


@route("PUT", rf"/v[34]/domains/{_D}/verify")
def verify_domain(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.verify_domain(request.params["domain"])


@route("GET", rf"/v3/domains/{_D}/tracking")
def tracking(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.tracking(request.params["domain"])


@route("PUT", rf"/v3/domains/{_D}/tracking/(?P<kind>open|click|unsubscribe)")
def update_tracking(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.update_tracking(request.params["domain"], request.params["kind"], request.form())


# --- Webhooks ------------------------------------------------------------------------------------


@route("GET", rf"/v3/domains/{_D}/webhooks")
def list_webhooks(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.list_webhooks(request.params["domain"])


@route("POST", rf"/v3/domains/{_D}/webhooks")
def create_webhook(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.create_webhook(request.params["domain"], request.form())


@route("GET", rf"/v3/domains/{_D}/webhooks/(?P<webhook>[^/]+)")
def get_webhook(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.get_webhook(request.params["domain"], request.params["webhook"])


@route("PUT", rf"/v3/domains/{_D}/webhooks/(?P<webhook>[^/]+)")
def update_webhook(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.update_webhook(request.params["domain"], request.params["webhook"], request.form())


@route("DELETE", rf"/v3/domains/{_D}/webhooks/(?P<webhook>[^/]+)")
def delete_webhook(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.delete_webhook(request.params["domain"], request.params["webhook"])


@route("GET", rf"/v4/domains/{_D}/webhooks")
def list_webhooks_v4(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.list_webhooks(request.params["domain"])


def _webhooks_v4(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    form = request.form() if request.method != "DELETE" else Form()
    return sandbox.change_webhooks_v4(request.params["domain"], request.method, form, request.query)


for _method in ("POST", "PUT", "DELETE"):
    route(_method, rf"/v4/domains/{_D}/webhooks")(_webhooks_v4)


# --- Suppressions --------------------------------------------------------------------------------


@route("GET", rf"/v3/{_D}/{_KIND}")
def list_suppressions(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.list_suppressions(request.params["domain"], request.params["kind"], request.query)


@route("POST", rf"/v3/{_D}/{_KIND}")
def add_suppressions(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    if request.is_json():
        records = parse_json(request.body)
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
            raise ApiError.message(400, "Request body must be a JSON array of objects")
        return sandbox.add_suppressions(request.params["domain"], request.params["kind"], records, None)
    return sandbox.add_suppressions(request.params["domain"], request.params["kind"], None, request.form())


@route("DELETE", rf"/v3/{_D}/{_KIND}")
def clear_suppressions(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.clear_suppressions(request.params["domain"], request.params["kind"])


@route("GET", rf"/v3/{_D}/{_KIND}/(?P<address>[^/]+)")
def get_suppression(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.get_suppression(request.params["domain"], request.params["kind"], request.params["address"])


@route("DELETE", rf"/v3/{_D}/{_KIND}/(?P<address>[^/]+)")
def delete_suppression(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.delete_suppression(
        request.params["domain"], request.params["kind"], request.params["address"], request.query.get("tag")
    )


# --- Events --------------------------------------------------------------------------------------


@route("GET", rf"/v3/{_D}/events")
def list_events(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.events_page(request.params["domain"], request.query)


@route("GET", rf"/v3/{_D}/events/(?P<token>[^/]+)")
def events_page(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    params, offset = read_page_token(request.params["token"])
    return sandbox.events_page(request.params["domain"], params, offset)


# --- The sandbox's own routes (no key: they exist only on 127.0.0.1) -----------------------------


@route("GET", r"/sandbox/?", mailgun=False)
def home(sandbox: MailgunSandbox, request: Request) -> Response:
    html = page.render(sandbox.sandbox_messages({"raw": "0"}), sandbox.webhook_deliveries())
    return Response(200, html, "text/html; charset=utf-8", {"Content-Security-Policy": page.CSP})


@route("GET", r"/sandbox/messages", mailgun=False)
def sandbox_messages(sandbox: MailgunSandbox, request: Request) -> list[Any]:
    return sandbox.sandbox_messages(request.query)


@route("GET", r"/sandbox/messages/(?P<key>[^/]+)", mailgun=False)
def sandbox_message(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.message(request.params["key"])


@route("GET", r"/sandbox/messages/(?P<key>[^/]+)/raw", mailgun=False)
def sandbox_message_raw(sandbox: MailgunSandbox, request: Request) -> Response:
    return Response(200, sandbox.message(request.params["key"])["raw_mime"], "message/rfc822")


@route("GET", r"/sandbox/events", mailgun=False)
def sandbox_events(sandbox: MailgunSandbox, request: Request) -> list[Any]:
    return sandbox.events(request.query.get("domain"), request.query.get("event"))


@route("GET", r"/sandbox/webhook-deliveries", mailgun=False)
def sandbox_deliveries(sandbox: MailgunSandbox, request: Request) -> list[Any]:
    return sandbox.webhook_deliveries()


@route("POST", r"/sandbox/reset", mailgun=False)
def sandbox_reset(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    sandbox.reset()
    return {"message": "Sandbox has been reset"}


@route("GET", r"/sandbox/faults", mailgun=False)
def sandbox_faults(sandbox: MailgunSandbox, request: Request) -> list[Any]:
    return sandbox.faults.armed()


@route("POST", r"/sandbox/faults", mailgun=False)
def sandbox_add_fault(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    spec = parse_json(request.body) if request.is_json() else dict(request.form().fields)
    if not isinstance(spec, dict):
        raise ApiError.message(400, "a fault is a JSON object")
    try:
        fault = make_fault(
            status=int(spec["status"]) if spec.get("status") not in (None, "") else None,
            count=int(spec.get("count", 1)),
            delay_seconds=float(spec.get("delay_seconds", 0.0)),
            path_prefix=str(spec.get("path_prefix", "/v3/")),
            method=str(spec["method"]) if spec.get("method") else None,
            retry_after_seconds=int(spec.get("retry_after_seconds", 120)),
            limit=str(spec.get("limit", "account-requests-per-sec")),
        )
    except (TypeError, ValueError) as exc:
        raise ApiError.message(400, str(exc)) from exc
    sandbox.faults.add(fault)
    return {"message": "Fault has been armed", "fault": fault.as_json()}


@route("DELETE", r"/sandbox/faults", mailgun=False)
def sandbox_clear_faults(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    sandbox.clear_faults()
    return {"message": "Faults have been cleared"}


@route("POST", rf"/sandbox/domains/{_D}/verify", mailgun=False)
def sandbox_verify(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return sandbox.verify_domain(request.params["domain"], force=True)


@route("POST", r"/sandbox/deliver-scheduled", mailgun=False)
def sandbox_deliver_scheduled(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return {"message": "Scheduled messages are being delivered", "count": sandbox.deliver_scheduled_now()}


@route("POST", r"/sandbox/webhooks/retry", mailgun=False)
def sandbox_retry_webhooks(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    return {"message": "Waiting webhook retries are due now", "count": sandbox.retry_webhooks_now()}


@route("GET", r"/sandbox/unsubscribe/(?P<token>[^/]+)", mailgun=False)
def unsubscribe_page(sandbox: MailgunSandbox, request: Request) -> Response:
    entry = sandbox.unsubscribe(request.params["token"])
    return Response(
        200, page.unsubscribed(entry["address"]), "text/html; charset=utf-8", {"Content-Security-Policy": page.CSP}
    )


@route("POST", r"/sandbox/unsubscribe/(?P<token>[^/]+)", mailgun=False)
def unsubscribe_one_click(sandbox: MailgunSandbox, request: Request) -> dict[str, Any]:
    entry = sandbox.unsubscribe(request.params["token"])
    return {"message": "Address has been unsubscribed", "address": entry["address"]}


# --- Server --------------------------------------------------------------------------------------


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: MailgunSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, SandboxRequestHandler)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("request " + format, *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        self._handle("GET", head=True)

    def _handle(self, method: str, *, head: bool = False) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            body = self._read_body()
        except _TooLarge:
            self._send(Response(413, {"message": "request size exceeds 52.4MiB limit"}), close=True)
            return
        except ApiError as error:
            self._send(Response(error.status, error.body), close=True)
            return
        found, allowed = _match(method, path)
        if found is None:
            status = 405 if allowed else 404
            self._send(Response(status, {"message": "Method Not Allowed" if allowed else "Not Found"}), head=head)
            return
        matched_route, params = found
        request = Request(method, path, query, self.headers, body, params)
        try:
            if matched_route.mailgun:
                self._authorise(matched_route)
                fault = sandbox.faults.take(method, path)
                if fault is not None:
                    if fault.delay_seconds and sandbox.stopping.wait(fault.delay_seconds):
                        raise ApiError.message(503, "Service Unavailable")
                    failure = fault.error(params.get("domain"))
                    if failure is not None:
                        raise failure
            if "Content-Encoding" in self.headers:
                request.body = decompress(body, self.headers.get("Content-Encoding"))
                if len(request.body) > MAX_BODY_BYTES:
                    self._send(Response(413, {"message": "request size exceeds 52.4MiB limit"}), head=head)
                    return
            result = matched_route.handler(sandbox, request)
            response = result if isinstance(result, Response) else Response(200, result)
        except ApiError as error:
            response = Response(error.status, error.body)
        except Exception:
            logger.exception("sandbox request failed", extra={"method": method, "path": path})
            response = Response(500, {"message": "Internal Server Error"})
        self._send(response, head=head)

    def _authorise(self, matched_route: Route) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        user, password = "", ""
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
        if user == "api" and hmac.compare_digest(password.encode(), self.server.sandbox.api_key.encode()):
            return
        if matched_route.messages:
            raise ApiError(401, "Forbidden")
        raise ApiError.message(401, "Invalid private key")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise ApiError.message(400, "Invalid Content-Length") from exc
        if length > MAX_BODY_BYTES:
            remaining = min(length, _MAX_DRAIN_BYTES)
            while remaining > 0:
                chunk = self.rfile.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
            raise _TooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError as exc:
                raise ApiError.message(400, "Invalid chunked body") from exc
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                break
            total += size
            if total > _MAX_DRAIN_BYTES:
                raise _TooLarge
            data = self.rfile.read(size)
            self.rfile.readline(8)
            if total <= MAX_BODY_BYTES:
                parts.append(data)
        if total > MAX_BODY_BYTES:
            raise _TooLarge
        return b"".join(parts)

    def _send(self, response: Response, *, head: bool = False, close: bool = False) -> None:
        body = response.body
        if isinstance(body, bytes):
            data, content_type = body, response.content_type or "application/octet-stream"
        elif isinstance(body, str):
            data, content_type = body.encode("utf-8"), response.content_type or "text/plain; charset=utf-8"
        else:
            data = (json.dumps(body, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
            content_type = response.content_type or "application/json"
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (response.headers or {}).items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if not head:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _TooLarge(Exception):
    pass


def _match(method: str, path: str) -> tuple[tuple[Route, dict[str, str]] | None, bool]:
    """The route for the request and its (unquoted) path parameters; and whether the path exists."""
    allowed = False
    for candidate in ROUTES:
        match = candidate.pattern.match(path)
        if match is None:
            continue
        if candidate.method != method:
            allowed = True
            continue
        return (candidate, {key: unquote(value) for key, value in match.groupdict().items()}), True
    return None, allowed
