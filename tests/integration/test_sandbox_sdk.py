"""Mailgun's official Python SDK (``mailgun`` on PyPI) against the sandbox, base URL swapped."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest
from mailgun.client import Client
from mailgun.config import RetryPolicy

from local.mailgun_sandbox import MailgunSandbox

DOMAIN = "mg.shop.test"


@pytest.fixture
def client(sandbox: MailgunSandbox) -> Iterator[Client]:
    # api_url is the base host; the SDK adds /v3, /v4 itself (and allows http only for 127.0.0.1).
    policy = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
    with Client(auth=("api", sandbox.api_key), api_url=sandbox.url, retry_policy=policy) as client:
        yield client


def test_the_sdk_sends_a_message_with_an_attachment(sandbox: MailgunSandbox, client: Client) -> None:
    response = client.messages.create(
        domain=DOMAIN,
        data={
            "from": "Shop <news@mg.shop.test>",
            "to": ["alice@example.com", "bob@example.com"],
            "subject": "Welcome",
            "text": "Hello",
            "html": "<p>Hello</p>",
            "o:tag": ["welcome"],
            "h:Reply-To": "help@shop.example",
        },
        files=[("attachment", ("terms.txt", b"Be nice.", "text/plain"))],
    )

    assert response.status_code == 200
    assert response.json()["message"] == "Queued. Thank you."
    [stored] = sandbox.messages()
    assert stored["recipients"] == ["alice@example.com", "bob@example.com"]
    assert stored["tags"] == ["welcome"]
    assert stored["attachments"] == [{"filename": "terms.txt", "content-type": "text/plain", "size": 8}]
    parsed = email.message_from_string(stored["raw_mime"], policy=email.policy.default)
    assert parsed["Reply-To"] == "help@shop.example"


def test_the_sdk_lists_creates_and_reads_domains(client: Client) -> None:
    created = client.domains.create(data={"name": "mg.sdk.test"})
    listed = client.domainlist.get()
    found = client.domains.get(domain="mg.sdk.test")

    assert created.status_code == 200
    assert listed.status_code == 200
    assert {item["name"] for item in listed.json()["items"]} == {DOMAIN, "mg.sdk.test"}
    assert found.json()["domain"]["state"] == "unverified"


def test_the_sdk_manages_webhooks_and_bounces(client: Client) -> None:
    created = client.domains_webhooks.create(domain=DOMAIN, data={"id": "clicked", "url": ["https://hooks.example"]})
    read = client.domains_webhooks.get(domain=DOMAIN, webhook_name="clicked")
    bounced = client.bounces.create(domain=DOMAIN, data={"address": "gone@example.com"})
    bounce = client.bounces.get(domain=DOMAIN, bounce_address="gone@example.com")

    assert created.status_code == 200
    assert read.json() == {"webhook": {"urls": ["https://hooks.example"]}}
    assert bounced.status_code == 200
    assert bounce.json()["address"] == "gone@example.com"


def test_the_sdk_reads_events(client: Client) -> None:
    client.messages.create(
        domain=DOMAIN, data={"from": "news@mg.shop.test", "to": "alice@example.com", "subject": "Hi", "text": "x"}
    )

    response = client.events.get(domain=DOMAIN, filters={"event": "delivered"})

    assert response.status_code == 200
    assert [item["recipient"] for item in response.json()["items"]] == ["alice@example.com"]


def test_the_sdk_rides_out_a_429_with_its_own_retry(sandbox: MailgunSandbox, client: Client) -> None:
    sandbox.set_fault(status=429, count=1, path_prefix=f"/v3/{DOMAIN}/messages")

    response = client.messages.create(
        domain=DOMAIN, data={"from": "news@mg.shop.test", "to": "alice@example.com", "subject": "Hi", "text": "x"}
    )

    assert response.status_code == 200
    assert sandbox.faults.armed() == []  # the fault was used up by the first attempt
    assert len(sandbox.messages()) == 1
