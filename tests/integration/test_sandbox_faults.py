"""Injected faults: 429 with Mailgun's body, 5xx, and slow answers, set in Python or over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from local.mailgun_sandbox import MailgunSandbox

DOMAIN = "mg.shop.test"
MESSAGE = {"from": "news@mg.shop.test", "to": "alice@example.com", "subject": "Hi", "text": "Hello"}


def send(sandbox: MailgunSandbox, **kwargs: Any) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/v3/{DOMAIN}/messages", data=MESSAGE, auth=("api", sandbox.api_key), timeout=30, **kwargs
    )


def test_a_429_fault_answers_mailguns_body_then_sending_works_again(sandbox: MailgunSandbox) -> None:
    sandbox.set_fault(status=429, count=2)

    first, second, third = send(sandbox), send(sandbox), send(sandbox)

    expected = {
        "message": f"Domain {DOMAIN} is not allowed to send: account-requests-per-sec limit exceeded, "
        "try again after 120 seconds"
    }
    assert (first.status_code, first.json()) == (429, expected)
    assert (second.status_code, second.json()) == (429, expected)
    assert third.status_code == 200
    assert len(sandbox.messages()) == 1  # refused calls store nothing


def test_the_429_wait_is_configurable(sandbox: MailgunSandbox) -> None:
    sandbox.set_fault(status=429, retry_after_seconds=5, limit="recipient")

    response = send(sandbox)

    assert response.json()["message"].endswith("recipient limit exceeded, try again after 5 seconds")


@pytest.mark.parametrize(
    ("status", "text"), [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable")]
)
def test_a_server_error_fault_fails_once(sandbox: MailgunSandbox, status: int, text: str) -> None:
    sandbox.set_fault(status=status)

    failed, ok = send(sandbox), send(sandbox)

    assert (failed.status_code, failed.json()) == (status, {"message": text})
    assert ok.status_code == 200


def test_a_slow_fault_delays_the_answer_but_succeeds(sandbox: MailgunSandbox) -> None:
    sandbox.set_fault(delay_seconds=0.3)

    started = time.monotonic()
    response = send(sandbox)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.3  # a lower bound only: the delay happened
    assert sandbox.faults.armed() == []


def test_faults_only_hit_matching_paths(sandbox: MailgunSandbox) -> None:
    sandbox.set_fault(status=503, path_prefix="/v4/")

    assert send(sandbox).status_code == 200
    domains = requests.get(f"{sandbox.url}/v4/domains", auth=("api", sandbox.api_key), timeout=10)
    assert domains.status_code == 503


def test_faults_come_after_authentication(sandbox: MailgunSandbox) -> None:
    sandbox.set_fault(status=429)

    denied = requests.post(f"{sandbox.url}/v3/{DOMAIN}/messages", data=MESSAGE, auth=("api", "bad"), timeout=10)

    assert denied.status_code == 401
    assert send(sandbox).status_code == 429


def test_faults_can_be_armed_listed_and_cleared_over_http(sandbox: MailgunSandbox) -> None:
    armed = requests.post(f"{sandbox.url}/sandbox/faults", json={"status": 429, "count": 3}, timeout=10)
    listed = requests.get(f"{sandbox.url}/sandbox/faults", timeout=10).json()

    assert armed.status_code == 200
    assert [(f["status"], f["count"]) for f in listed] == [(429, 3)]
    assert send(sandbox).status_code == 429

    assert requests.delete(f"{sandbox.url}/sandbox/faults", timeout=10).status_code == 200
    assert send(sandbox).status_code == 200


def test_a_bad_fault_is_refused(sandbox: MailgunSandbox) -> None:
    response = requests.post(f"{sandbox.url}/sandbox/faults", json={"status": 418}, timeout=10)

    assert response.status_code == 400
    with pytest.raises(ValueError, match="status"):
        sandbox.set_fault(status=418)
