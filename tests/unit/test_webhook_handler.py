"""The webhook handler: API Gateway events in, Mailgun-meaningful statuses out (200, 406, 4xx, 503)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tagmail import bootstrap
from tagmail.domain.projects import Project
from tagmail.domain.sending import MessageStatus
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.suppressions import SuppressionReason
from tests.handlers import load_handler
from tests.unit.test_webhook_service import Webhooks

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "webhook"
SAMPLE_PROJECT, SAMPLE_KEY, SAMPLE_DOMAIN = "p0123456789abcdef", "sample-signing-key", "mail.shop.example"


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Webhooks:
    hooks = Webhooks()
    monkeypatch.setattr(bootstrap, "webhook_service", lambda: hooks.service)
    return hooks


@pytest.fixture
def call(hooks: Webhooks) -> Callable[[dict[str, Any]], dict[str, Any]]:
    handler = load_handler("webhook")
    return lambda event: handler.lambda_handler(event, None)


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def with_body(body: bytes, *, base64_encoded: bool = False) -> dict[str, Any]:
    event = sample("delivered")
    event["body"] = base64.b64encode(body).decode() if base64_encoded else body.decode()
    event["isBase64Encoded"] = base64_encoded
    return event


def at_sample_time(hooks: Webhooks) -> None:
    """The sample events are signed with a sample key at a fixed time: make both true here."""
    hooks.clock.now = datetime.fromtimestamp(1796376602, UTC)
    hooks.projects.items.clear()  # the samples name the domain the fixture's own project uses
    settings = MailSettings(sending_domain=SAMPLE_DOMAIN, sender_address=f"news@{SAMPLE_DOMAIN}")
    hooks.projects.add(Project(SAMPLE_PROJECT, "sample", hooks.clock(), settings))
    hooks.secrets.put(SAMPLE_PROJECT, ProjectSecrets(unsubscribe_secret="u", webhook_signing_key=SAMPLE_KEY))


def test_a_signed_webhook_is_answered_200_ok(hooks: Webhooks, call: Callable[..., dict[str, Any]]) -> None:
    response = call(with_body(hooks.body("delivered")))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"message": "ok"}
    assert hooks.record().status is MessageStatus.DELIVERED


def test_the_sample_events_verify_with_the_sample_key(hooks: Webhooks, call: Callable[..., dict[str, Any]]) -> None:
    at_sample_time(hooks)
    for name in ("delivered", "opened", "permanent_fail"):
        assert call(sample(name))["statusCode"] == 200, name
    suppression = hooks.suppressions.get(SAMPLE_PROJECT, "hanako@example.jp")
    assert suppression is not None
    assert suppression.reason is SuppressionReason.BOUNCE


def test_a_replayed_sample_is_406(hooks: Webhooks, call: Callable[..., dict[str, Any]]) -> None:
    at_sample_time(hooks)
    assert call(sample("opened"))["statusCode"] == 200
    replay = call(sample("opened"))
    assert replay["statusCode"] == 406
    assert json.loads(replay["body"])["code"] == "rejected"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param({"key": "forged"}, 406, id="forged"),
        pytest.param({"timestamp": 1_700_000_000}, 406, id="stale"),
        pytest.param({"domain": "nobody.example"}, 406, id="unknown domain"),
        pytest.param({"variables": {"tagmail_project": "p2"}}, 406, id="other project"),
    ],
)
def test_refusals_are_406_so_mailgun_stops_retrying(
    hooks: Webhooks, call: Callable[..., dict[str, Any]], change: dict[str, Any], status: int
) -> None:
    response = call(with_body(hooks.body("complained", **change)))
    assert response["statusCode"] == status
    assert response["headers"]["content-type"].startswith("application/json")
    assert hooks.nothing_changed()


def test_malformed_and_oversized_bodies_are_400_and_413(hooks: Webhooks, call: Callable[..., dict[str, Any]]) -> None:
    assert call(with_body(b"{not json"))["statusCode"] == 400
    assert call(with_body(b"", base64_encoded=True))["statusCode"] == 400
    assert call(with_body(hooks.body("complained", padding="x" * 300_000)))["statusCode"] == 413
    assert hooks.nothing_changed()


def test_a_store_outage_is_503_so_mailgun_retries(hooks: Webhooks, call: Callable[..., dict[str, Any]]) -> None:
    hooks.idempotency.fail_claims = True
    response = call(with_body(hooks.body("delivered")))
    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "1"
    assert hooks.nothing_changed()
