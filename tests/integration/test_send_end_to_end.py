"""Identify → send request → Mailgun sandbox → signed webhooks back → status, counters, suppressions.

Everything real but the provider: the HTTP API, the send queue and function, moto's DynamoDB,
SQS and SSM, and a Mailgun-compatible sandbox that posts signed webhooks to the local API.
"""

from __future__ import annotations

import base64
import email
import json
import time
import uuid
from collections.abc import Callable
from email.message import Message
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.domain.sending import MessageRecord, MessageStatus, SendKind, SendRequest
from tagmail.domain.stats import Counter
from tagmail.domain.suppressions import Suppression, SuppressionReason

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 30


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def identify(stack: LocalStack, user_id: str, **traits: Any) -> None:
    key = base64.b64encode(f"{stack.project.write_key}:".encode()).decode()
    response = requests.post(
        f"{stack.api_url}/v1/identify",
        json={"userId": user_id, "traits": traits},
        headers={"Authorization": f"Basic {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def enqueue(stack: LocalStack, user_id: str, occurrence: str | None = None, campaign: str = "welcome-flow") -> str:
    request = SendRequest(
        project_id=stack.project.id,
        kind=SendKind.MARKETING,
        template_id="welcome",
        occurrence=occurrence or uuid.uuid4().hex,
        campaign_id=campaign,
        variant="A",
        user_key=f"u:{user_id}",
    )
    stack.client("sqs").send_message(QueueUrl=stack.queue_urls["SendQueue"], MessageBody=request.to_json())
    return request.send_key


def mails_to(stack: LocalStack, address: str) -> list[dict[str, Any]]:
    assert stack.sandbox is not None
    return [m for m in stack.sandbox.messages() if address.lower() in (r.lower() for r in m["recipients"])]


def record(stack: LocalStack, send_key: str) -> MessageRecord | None:
    return bootstrap.message_store().get(stack.project.id, send_key)


def status_becomes(stack: LocalStack, send_key: str, status: MessageStatus) -> MessageRecord:
    return wait_for(lambda: (r := record(stack, send_key)) is not None and r.status is status and r, f"status {status}")


def new_user(prefix: str) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"{prefix}-{tag}", f"{prefix}+{tag}@example.jp"


def test_a_subscribed_user_gets_the_mail_and_its_delivery_comes_back(local_stack: LocalStack) -> None:
    user_id, address = new_user("hanako")
    identify(local_stack, user_id, email=address, subscription=True, first_name="花子", locale="ja-JP")
    send_key = enqueue(local_stack, user_id, campaign="e2e-delivered")

    [mail] = wait_for(lambda: mails_to(local_stack, address), "the mail in the sandbox")
    mime: Message = email.message_from_string(mail["raw_mime"])
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mime.get_payload()] == ["text/plain", "text/html"]  # type: ignore[union-attr]
    assert mail["from"] == "Demo Shop <news@mg.demo-shop.test>"
    assert mail["subject"] == "花子、ようこそ"
    assert "花子様" in mail["html"]
    assert 'style="color: #c0392b"' in mail["html"] or "color:#c0392b" in mail["html"].replace(" ", "")
    headers = {name.lower(): value for name, value in mail["headers"].items()}
    assert headers["reply-to"] == "support@demo-shop.example"
    assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
    assert headers["list-unsubscribe"].startswith(f"<{local_stack.api_url}/u/")
    assert mail["options"]["o:tracking-clicks"] == "yes"
    assert mail["options"]["o:tracking-opens"] == "yes"
    assert mail["user_variables"]["tagmail_send"] == send_key
    assert "e2e-delivered" in mail["tags"]

    delivered = status_becomes(local_stack, send_key, MessageStatus.DELIVERED)
    assert delivered.mailgun_id == f"<{mail['id'].strip('<>')}>"
    assert [change.status for change in delivered.history][:2] == [MessageStatus.ACCEPTED, MessageStatus.DELIVERED]
    stats = wait_for(
        lambda: (
            (row := bootstrap.stats_store().of_campaign(local_stack.project.id, "e2e-delivered").get("A"))
            and row[Counter.DELIVERED] == 1
            and row
        ),
        "the delivered counter",
    )
    assert stats[Counter.ACCEPTED] == 1


def test_a_duplicate_send_request_sends_one_mail(local_stack: LocalStack) -> None:
    user_id, address = new_user("dup")
    identify(local_stack, user_id, email=address, subscription=True)
    send_key = enqueue(local_stack, user_id, occurrence="same-occurrence")
    assert enqueue(local_stack, user_id, occurrence="same-occurrence") == send_key
    status_becomes(local_stack, send_key, MessageStatus.DELIVERED)
    local_stack.wait_idle(10)
    assert len(mails_to(local_stack, address)) == 1


def test_an_unsubscribed_user_gets_nothing(local_stack: LocalStack) -> None:
    user_id, address = new_user("gone")
    identify(local_stack, user_id, email=address, subscription=True)
    identify(local_stack, user_id, subscription=False)
    send_key = enqueue(local_stack, user_id)
    skipped = status_becomes(local_stack, send_key, MessageStatus.SKIPPED)
    assert skipped.reason == "unsubscribed"
    assert mails_to(local_stack, address) == []


def test_a_suppressed_address_gets_nothing(local_stack: LocalStack) -> None:
    user_id, address = new_user("blocked")
    identify(local_stack, user_id, email=address, subscription=True)
    bootstrap.suppression_store().add(
        Suppression(local_stack.project.id, address.lower(), SuppressionReason.MANUAL, bootstrap.utc_now())
    )
    send_key = enqueue(local_stack, user_id)
    assert status_becomes(local_stack, send_key, MessageStatus.SKIPPED).reason == "suppressed:manual"
    assert mails_to(local_stack, address) == []


def test_a_hard_bounce_suppresses_the_address_for_the_next_send(local_stack: LocalStack) -> None:
    user_id, address = new_user("bounce")
    identify(local_stack, user_id, email=address, subscription=True)
    send_key = enqueue(local_stack, user_id, campaign="e2e-bounce")
    status_becomes(local_stack, send_key, MessageStatus.FAILED_PERMANENT)
    suppression = wait_for(
        lambda: bootstrap.suppression_store().get(local_stack.project.id, address.lower()), "the suppression"
    )
    assert suppression.reason is SuppressionReason.BOUNCE

    again = enqueue(local_stack, user_id, campaign="e2e-bounce")
    assert status_becomes(local_stack, again, MessageStatus.SKIPPED).reason == "suppressed:bounce"
    assert len(mails_to(local_stack, address)) == 1


def test_a_complaint_suppresses_and_is_counted(local_stack: LocalStack) -> None:
    user_id, address = new_user("complain")
    identify(local_stack, user_id, email=address, subscription=True)
    send_key = enqueue(local_stack, user_id, campaign="e2e-complaint")
    status_becomes(local_stack, send_key, MessageStatus.COMPLAINED)
    suppression = wait_for(
        lambda: bootstrap.suppression_store().get(local_stack.project.id, address.lower()), "the suppression"
    )
    assert suppression.reason is SuppressionReason.COMPLAINT
    row = bootstrap.stats_store().of_campaign(local_stack.project.id, "e2e-complaint")["A"]
    assert row[Counter.COMPLAINED] == 1


def test_opens_and_clicks_are_counted_and_unique(local_stack: LocalStack) -> None:
    user_id, address = new_user("click")
    identify(local_stack, user_id, email=address, subscription=True)
    send_key = enqueue(local_stack, user_id, campaign="e2e-click")
    status_becomes(local_stack, send_key, MessageStatus.CLICKED)
    row = wait_for(
        lambda: (
            (r := bootstrap.stats_store().of_campaign(local_stack.project.id, "e2e-click").get("A"))
            and r[Counter.UNIQUE_CLICKED] == 1
            and r
        ),
        "click counters",
    )
    assert (row[Counter.OPENED], row[Counter.UNIQUE_OPENED], row[Counter.CLICKED]) == (1, 1, 1)


def test_an_unsubscribe_at_mailgun_stops_the_next_mail(local_stack: LocalStack) -> None:
    user_id, address = new_user("unsub")
    identify(local_stack, user_id, email=address, subscription=True)
    send_key = enqueue(local_stack, user_id, campaign="e2e-unsub")
    status_becomes(local_stack, send_key, MessageStatus.UNSUBSCRIBED)
    profile = wait_for(
        lambda: (
            (p := bootstrap.send_service()._users.get(local_stack.project.id, f"u:{user_id}", consistent=True))
            and p.subscription is False
            and p
        ),
        "subscription false",
    )
    assert profile.subscription is False
    again = enqueue(local_stack, user_id, campaign="e2e-unsub")
    assert status_becomes(local_stack, again, MessageStatus.SKIPPED).reason == "unsubscribed"


def test_the_one_click_unsubscribe_link_in_the_mail_works(local_stack: LocalStack) -> None:
    user_id, address = new_user("oneclick")
    identify(local_stack, user_id, email=address, subscription=True)
    enqueue(local_stack, user_id)
    [mail] = wait_for(lambda: mails_to(local_stack, address), "the mail")
    url = {k.lower(): v for k, v in mail["headers"].items()}["list-unsubscribe"].strip("<>")
    response = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert response.status_code == 200
    again = enqueue(local_stack, user_id)
    assert status_becomes(local_stack, again, MessageStatus.SKIPPED).reason == "unsubscribed"


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    answer = stack.client("sqs").receive_message(
        QueueUrl=stack.queue_urls["SendDeadLetterQueue"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=1,
    )
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def test_a_send_that_can_never_succeed_goes_to_the_dead_letter_queue_with_its_reason(local_stack: LocalStack) -> None:
    user_id, address = new_user("nobody")
    identify(local_stack, user_id, email=address, subscription=True)
    request = SendRequest(
        project_id=local_stack.project.id,
        kind=SendKind.MARKETING,
        template_id="no-such-template",
        occurrence="dlq-1",
        user_key=f"u:{user_id}",
    )
    sqs = local_stack.client("sqs")
    sqs.send_message(QueueUrl=local_stack.queue_urls["SendQueue"], MessageBody=request.to_json())
    sqs.send_message(QueueUrl=local_stack.queue_urls["SendQueue"], MessageBody="{not json")
    buried: list[dict[str, Any]] = []
    wait_for(lambda: buried.extend(dead_letters(local_stack)) or len(buried) >= 2, "two dead letters")
    reasons = {letter["request"]: letter["reason"] for letter in buried}
    assert "not found" in reasons[request.to_json()]
    assert "not JSON" in reasons["{not json"]
    assert mails_to(local_stack, address) == []


def test_mailgun_outages_are_retried_until_the_mail_is_accepted(local_stack: LocalStack) -> None:
    assert local_stack.sandbox is not None
    user_id, address = new_user("retry")
    identify(local_stack, user_id, email=address, subscription=True)
    local_stack.sandbox.set_fault(503, count=2, path_prefix="/v3/mg.demo-shop.test/messages")
    send_key = enqueue(local_stack, user_id)
    status_becomes(local_stack, send_key, MessageStatus.DELIVERED)
    assert len(mails_to(local_stack, address)) == 1


def test_a_long_rate_limit_leaves_the_request_on_the_queue_and_releases_the_send(local_stack: LocalStack) -> None:
    assert local_stack.sandbox is not None
    user_id, address = new_user("limited")
    identify(local_stack, user_id, email=address, subscription=True)
    local_stack.sandbox.set_fault(429, count=1, path_prefix="/v3/mg.demo-shop.test/messages", retry_after_seconds=600)
    send_key = enqueue(local_stack, user_id)
    released = wait_for(
        lambda: (r := record(local_stack, send_key)) is not None and r.reason == "released" and r, "the release"
    )
    assert released.status is MessageStatus.SENDING
    assert mails_to(local_stack, address) == []
    attributes = local_stack.client("sqs").get_queue_attributes(
        QueueUrl=local_stack.queue_urls["SendQueue"], AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) >= 1, "the request waits for its retry"
