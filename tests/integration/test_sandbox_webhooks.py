"""Webhooks from the sandbox to a tiny receiver on 127.0.0.1: payload, signature, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from local.mailgun_sandbox import MailgunSandbox

DOMAIN = "mg.shop.test"
SIGNING_KEY = "signing-key-for-tests"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    payload: dict[str, Any]


class Receiver:
    """Records every POST; answers each path with scripted statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: dict[str, list[int]] = {}
        self.hold = threading.Event()
        self.hold.set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hold.wait(10)
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), json.loads(body)))
                    scripted = receiver.answers.get(self.path)
                    status = scripted.pop(0) if scripted else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [item.payload for item in self.received if item.path == path]

    def stop(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def verify(payload: dict[str, Any], key: str) -> bool:
    """What a receiver does: HMAC-SHA256 of timestamp + token with the signing key, in constant time."""
    signature = payload["signature"]
    expected = hmac.new(key.encode(), (signature["timestamp"] + signature["token"]).encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), signature["signature"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.stop()


WEBHOOK_RETRY_SCALE = 0.00001  # the whole 8 h schedule in about 0.3 s


def hook(sandbox: MailgunSandbox, webhook: str, *urls: str) -> None:
    response = requests.post(
        f"{sandbox.url}/v3/domains/{DOMAIN}/webhooks",
        data={"id": webhook, "url": list(urls)},
        auth=("api", sandbox.api_key),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def send(sandbox: MailgunSandbox, to: str, **fields: Any) -> str:
    response = requests.post(
        f"{sandbox.url}/v3/{DOMAIN}/messages",
        data={
            "from": "Shop <news@mg.shop.test>",
            "to": to,
            "subject": "Spring sale",
            "html": '<p><a href="https://shop.example/sale">Sale</a></p>',
            "o:tag": "spring",
            "v:campaign-id": "c-42",
            **fields,
        },
        auth=("api", sandbox.api_key),
        timeout=10,
    )
    assert response.status_code == 200
    return str(response.json()["id"]).strip("<>")


ALL_TYPES = (
    "accepted",
    "delivered",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "temporary_fail",
    "permanent_fail",
)


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("alice@example.com", ["accepted", "delivered"]),
        ("bounce+1@example.com", ["accepted", "permanent_fail"]),
        ("soft+1@example.com", ["accepted", "temporary_fail", "delivered"]),
        ("complain+1@example.com", ["accepted", "delivered", "complained"]),
        ("open+1@example.com", ["accepted", "delivered", "opened"]),
        ("click+1@example.com", ["accepted", "delivered", "opened", "clicked"]),
        ("unsub+1@example.com", ["accepted", "delivered", "unsubscribed"]),
    ],
)
def test_each_event_is_posted_signed_to_the_url_of_its_type(
    sandbox: MailgunSandbox, receiver: Receiver, recipient: str, expected: list[str]
) -> None:
    for webhook in ALL_TYPES:
        hook(sandbox, webhook, receiver.url(f"/{webhook}"))

    message_id = send(sandbox, recipient)

    assert sandbox.flush_webhooks(10)
    posted = sorted(
        ((webhook, payload) for webhook in ALL_TYPES for payload in receiver.at(f"/{webhook}")),
        key=lambda pair: pair[1]["event-data"]["timestamp"],
    )
    assert [webhook for webhook, _ in posted] == expected
    for webhook, payload in posted:
        assert set(payload) == {"signature", "event-data"}
        assert verify(payload, SIGNING_KEY)
        assert not verify(payload, "another-key")
        signature = payload["signature"]
        assert isinstance(signature["timestamp"], str)
        assert signature["timestamp"].isdigit()
        assert len(signature["token"]) == 50
        data = payload["event-data"]
        assert data["recipient"] == recipient
        assert data["recipient-domain"] == "example.com"
        assert isinstance(data["timestamp"], float)
        assert data["tags"] == ["spring"]
        assert data["user-variables"] == {"campaign-id": "c-42"}
        assert data["message"]["headers"] == {
            "to": recipient,
            "message-id": message_id,
            "from": "Shop <news@mg.shop.test>",
            "subject": "Spring sale",
        }
        assert data["log-level"] in ("info", "warn", "error")
        assert data in sandbox.events(DOMAIN)  # identical to the Events API item
        if webhook.endswith("_fail"):
            assert data["event"] == "failed"
            assert data["severity"] == webhook.removesuffix("_fail")
        else:
            assert data["event"] == webhook


def test_event_data_has_mailguns_per_event_fields(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    for webhook in ALL_TYPES:
        hook(sandbox, webhook, receiver.url(f"/{webhook}"))

    send(sandbox, "click+1@example.com")
    send(sandbox, "bounce+1@example.com")
    assert sandbox.flush_webhooks(10)

    accepted = receiver.at("/accepted")[0]["event-data"]
    assert accepted["method"] == "HTTP"
    assert set(accepted["envelope"]) == {"sender", "targets", "transport"}
    assert set(accepted["storage"]) == {"key", "url"}
    delivered = receiver.at("/delivered")[0]["event-data"]
    assert delivered["delivery-status"]["code"] == 250
    assert "sending-ip" in delivered["envelope"]
    assert {"attempt-no", "message", "description", "mx-host", "tls"} <= set(delivered["delivery-status"])
    clicked = receiver.at("/clicked")[0]["event-data"]
    assert clicked["url"] == "https://shop.example/sale"
    assert {"ip", "geolocation", "client-info"} <= set(clicked)
    failed = receiver.at("/permanent_fail")[0]["event-data"]
    assert (failed["severity"], failed["reason"], failed["delivery-status"]["code"]) == ("permanent", "bounce", 550)
    assert failed["flags"]["is-delayed-bounce"] is False


def test_a_500_is_retried_with_a_fresh_signature(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    receiver.answers["/opened"] = [500, 503]
    hook(sandbox, "opened", receiver.url("/opened"))

    send(sandbox, "open+1@example.com")

    assert sandbox.flush_webhooks(10)
    attempts = receiver.at("/opened")
    assert len(attempts) == 3
    assert len({attempt["event-data"]["id"] for attempt in attempts}) == 1
    assert len({attempt["signature"]["token"] for attempt in attempts}) == 3
    assert all(verify(attempt, SIGNING_KEY) for attempt in attempts)
    [delivery] = sandbox.webhook_deliveries()
    assert delivery["state"] == "delivered"
    assert [attempt["status"] for attempt in delivery["attempts"]] == [500, 503, 200]


def test_a_406_is_not_retried(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    receiver.answers["/complained"] = [406]
    hook(sandbox, "complained", receiver.url("/complained"))

    send(sandbox, "complain+1@example.com")

    assert sandbox.flush_webhooks(10)
    assert len(receiver.at("/complained")) == 1
    [delivery] = sandbox.webhook_deliveries()
    assert delivery["state"] == "rejected"


def test_delivered_is_never_retried(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    receiver.answers["/delivered"] = [500]
    hook(sandbox, "delivered", receiver.url("/delivered"))

    send(sandbox, "alice@example.com")

    assert sandbox.flush_webhooks(10)
    assert len(receiver.at("/delivered")) == 1
    assert sandbox.webhook_deliveries()[0]["state"] == "failed"


def test_retries_follow_the_six_step_schedule_then_stop(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    receiver.answers["/permanent_fail"] = [500] * 20
    hook(sandbox, "permanent_fail", receiver.url("/permanent_fail"))

    send(sandbox, "bounce+1@example.com")

    assert sandbox.flush_webhooks(20)
    assert len(receiver.at("/permanent_fail")) == 7  # the first attempt and six retries
    assert sandbox.webhook_deliveries()[0]["state"] == "failed"


def test_an_unreachable_url_is_recorded_and_retried(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    dead = receiver.url("/x").replace(str(receiver.server.server_address[1]), "1")  # nothing listens on port 1
    hook(sandbox, "accepted", dead)

    send(sandbox, "alice@example.com")

    assert sandbox.flush_webhooks(20)
    [delivery] = sandbox.webhook_deliveries()
    assert delivery["state"] == "failed"
    assert len(delivery["attempts"]) == 7
    assert all(attempt["status"] is None and attempt["error"] for attempt in delivery["attempts"])


def test_every_url_of_a_type_gets_its_own_delivery(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    hook(sandbox, "delivered", receiver.url("/one"), receiver.url("/two"))

    send(sandbox, "alice@example.com")

    assert sandbox.flush_webhooks(10)
    assert len(receiver.at("/one")) == len(receiver.at("/two")) == 1


def test_a_slow_receiver_never_holds_up_the_send(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    receiver.hold.clear()  # the receiver answers nothing until released
    hook(sandbox, "accepted", receiver.url("/accepted"))

    send(sandbox, "alice@example.com")  # answered while the webhook is still waiting
    assert sandbox.webhook_deliveries()[0]["attempts"] == []

    receiver.hold.set()
    assert sandbox.flush_webhooks(10)
    assert sandbox.webhook_deliveries()[0]["state"] == "delivered"


def test_webhook_deliveries_are_listed_over_http(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    hook(sandbox, "delivered", receiver.url("/delivered"))
    send(sandbox, "alice@example.com")
    assert sandbox.flush_webhooks(10)

    [delivery] = requests.get(f"{sandbox.url}/sandbox/webhook-deliveries", timeout=10).json()

    assert delivery["url"] == receiver.url("/delivered")
    assert delivery["event"] == "delivered"
    assert delivery["attempts"][0]["status"] == 200
    assert verify(delivery["payload"], SIGNING_KEY)


def test_one_recipients_events_reach_one_url_in_order(sandbox: MailgunSandbox, receiver: Receiver) -> None:
    for webhook in ALL_TYPES:
        hook(sandbox, webhook, receiver.url("/all"))

    for n in range(5):
        send(sandbox, f"click+{n}@example.com")

    assert sandbox.flush_webhooks(10)
    for n in range(5):
        arrived = [
            p["event-data"]["event"]
            for p in receiver.at("/all")
            if p["event-data"]["recipient"].startswith(f"click+{n}@")
        ]
        assert arrived == ["accepted", "delivered", "opened", "clicked"]
