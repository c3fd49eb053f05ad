"""The send function's handler: dead letters for what can never succeed, deferrals for the rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tagmail import bootstrap
from tagmail.services.send import PermanentSendFailure, TransientSendFailure
from tests.handlers import load_handler

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "send" / "app.py"


class Recorder:
    def __init__(self, failure: Exception | None) -> None:
        self.failure = failure
        self.deferred: list[tuple[str, float]] = []
        self.buried: list[tuple[str, str]] = []

    def send(self, request: Any) -> None:
        if self.failure is not None:
            raise self.failure

    def defer(self, receipt_handle: str, seconds: float) -> None:
        self.deferred.append((receipt_handle, seconds))

    def bury(self, body: str, reason: str) -> None:
        self.buried.append((body, reason))


def sqs_event(body: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "handle-1",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:send",
                "awsRegion": "us-east-1",
            }
        ]
    }


REQUEST = '{"v":1,"project_id":"p1","kind":"marketing","template_id":"t","occurrence":"o","user_key":"u:1"}'


def run(monkeypatch: pytest.MonkeyPatch, failure: Exception | None, body: str = REQUEST) -> tuple[Any, Recorder]:
    recorder = Recorder(failure)
    for name in ("send_service", "send_queue", "dead_letters"):
        monkeypatch.setattr(bootstrap, name, lambda: recorder)
    return load_handler("send").lambda_handler(sqs_event(body), None), recorder


def test_a_deferral_with_a_known_wait_brings_the_request_back_then(monkeypatch: pytest.MonkeyPatch) -> None:
    failure = TransientSendFailure("daily limit reached")
    failure.retry_after = timedelta(minutes=40)
    response, recorder = run(monkeypatch, failure)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert recorder.deferred == [("handle-1", 2400.0)]


def test_a_deferral_without_a_known_wait_keeps_the_queues_own_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    response, recorder = run(monkeypatch, TransientSendFailure("another sender holds it"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert recorder.deferred == []


def test_a_permanent_failure_is_dead_lettered_with_its_reason_and_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    response, recorder = run(monkeypatch, PermanentSendFailure("template t not found"))
    assert response == {"batchItemFailures": []}
    assert recorder.buried == [(REQUEST, "template t not found")]


def test_a_malformed_request_is_dead_lettered(monkeypatch: pytest.MonkeyPatch) -> None:
    response, recorder = run(monkeypatch, None, body="{oops")
    assert response == {"batchItemFailures": []}
    assert recorder.buried[0][1] == "the send request is not JSON"
