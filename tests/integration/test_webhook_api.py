"""Mailgun's webhooks on the local stack: signed JSON over real HTTP, effects checked in DynamoDB."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.adapters.dynamodb import DynamoProjects, DynamoUsers
from tagmail.domain.sending import MessageRecord, MessageStatus, SendKind
from tagmail.domain.settings import MailSettings
from tagmail.domain.users import UserProfile
from tagmail.domain.webhooks import sign

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class MailProject:
    project_id: str
    domain: str
    signing_key: str


@pytest.fixture(scope="module")
def project(local_stack: LocalStack) -> MailProject:
    """A project of its own, with a sending domain and a webhook signing key."""
    created = bootstrap.project_admin().create_project("webhooks")
    domain = f"mail-{uuid.uuid4().hex[:8]}.shop.example"
    projects = DynamoProjects(bootstrap.tables().projects)
    stored = projects.get(created.project_id)
    assert stored is not None
    settings = MailSettings(sending_domain=domain, sender_name="Shop", sender_address=f"news@{domain}")
    projects.update(replace(stored, settings=settings))
    store = bootstrap.secret_store()
    current = store.get(created.project_id)
    assert current is not None
    signing_key = secrets.token_hex(16)
    store.put(created.project_id, replace(current, webhook_signing_key=signing_key))
    return MailProject(created.project_id, domain, signing_key)


@dataclass(frozen=True)
class SentMail:
    send_key: str
    user_id: str
    address: str


@pytest.fixture
def sent(project: MailProject) -> SentMail:
    """A mail tagmail sent: its message record and its recipient's subscribed profile."""
    user_id = f"u-{uuid.uuid4().hex[:8]}"
    address = f"{user_id}@example.jp"
    now = datetime.now(UTC)
    send_key = uuid.uuid4().hex
    record = MessageRecord(
        project_id=project.project_id,
        send_key=send_key,
        kind=SendKind.MARKETING,
        status=MessageStatus.ACCEPTED,
        campaign_id=f"c-{send_key[:6]}",
        variant="A",
        created_at=now,
        updated_at=now,
        recipient=address,
        user_key=f"u:{user_id}",
    )
    assert bootstrap.message_store().reserve(record) is not None
    profile = replace(
        UserProfile.new(project.project_id, f"u:{user_id}", now),
        email=address,
        email_canonical=address,
        subscription=True,
    )
    assert DynamoUsers(bootstrap.tables().users).save(profile, expected=None)
    return SentMail(send_key, user_id, address)


@pytest.fixture
def post_raw(local_stack: LocalStack) -> Callable[[bytes], requests.Response]:
    def send(body: bytes) -> requests.Response:
        return requests.post(
            f"{local_stack.api_url}/webhooks/mailgun",
            data=body,
            headers={"content-type": "application/json"},
            timeout=10,
        )

    return send


@pytest.fixture
def post(project: MailProject, post_raw: Callable[[bytes], requests.Response]) -> Callable[..., requests.Response]:
    def send(
        mail: SentMail, event: str, *, key: str | None = None, stamp: int | None = None, **data: Any
    ) -> requests.Response:
        timestamp = str(stamp if stamp is not None else int(time.time()))
        token = secrets.token_hex(25)
        document = {
            "signature": {
                "timestamp": timestamp,
                "token": token,
                "signature": sign(key or project.signing_key, timestamp, token),
            },
            "event-data": {
                "event": event,
                "id": secrets.token_urlsafe(16),
                "timestamp": time.time(),
                "recipient": mail.address,
                "domain": {"name": project.domain},
                "user-variables": {"tagmail_project": project.project_id, "tagmail_send": mail.send_key},
                **data,
            },
        }
        return post_raw(json.dumps(document).encode())

    return send


def message(stack: LocalStack, project: MailProject, mail: SentMail) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_names["MessagesTable"],
        Key={"pk": {"S": f"{project.project_id}#{mail.send_key}"}},
        ConsistentRead=True,
    )
    return dict(item["Item"])


def counters(stack: LocalStack, project: MailProject, mail: SentMail) -> dict[str, int]:
    record = message(stack, project, mail)
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_names["StatsTable"],
        Key={"pk": {"S": f"{project.project_id}#{record['campaign_id']['S']}"}, "sk": {"S": "A"}},
        ConsistentRead=True,
    )
    return {name: int(value["N"]) for name, value in item.get("Item", {}).items() if "N" in value}


def suppression(stack: LocalStack, project: MailProject, address: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_names["SuppressionsTable"],
        Key={"project_id": {"S": project.project_id}, "address": {"S": address}},
        ConsistentRead=True,
    )
    found: dict[str, Any] | None = item.get("Item")
    return found


def subscription(stack: LocalStack, project: MailProject, mail: SentMail) -> bool:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_names["UsersTable"],
        Key={"pk": {"S": f"{project.project_id}#u:{mail.user_id}"}},
        ConsistentRead=True,
    )
    return bool(item["Item"]["subscription"]["BOOL"])


def test_signed_events_update_history_counters_and_never_regress(
    local_stack: LocalStack, project: MailProject, sent: SentMail, post: Callable[..., requests.Response]
) -> None:
    for event in ("delivered", "opened", "opened", "clicked"):
        response = post(sent, event)
        assert response.status_code == 200, response.text
        assert response.json() == {"message": "ok"}
    assert post(sent, "delivered").status_code == 200  # late and out of order

    record = message(local_stack, project, sent)
    assert record["status"]["S"] == "clicked"
    assert [status for status, _, _ in json.loads(record["history"]["S"])] == [
        "delivered",
        "opened",
        "opened",
        "clicked",
        "delivered",
    ]
    assert counters(local_stack, project, sent) == {
        "delivered": 2,
        "opened": 2,
        "unique_opened": 1,
        "clicked": 1,
        "unique_clicked": 1,
    }


def test_a_permanent_failure_suppresses_and_a_temporary_one_does_not(
    local_stack: LocalStack, project: MailProject, sent: SentMail, post: Callable[..., requests.Response]
) -> None:
    assert post(sent, "failed", severity="temporary", reason="greylisted").status_code == 200
    assert suppression(local_stack, project, sent.address) is None

    status = {"code": 550, "description": "mailbox unavailable"}
    assert post(sent, "failed", severity="permanent", reason="bounce", **{"delivery-status": status}).ok
    stored = suppression(local_stack, project, sent.address)
    assert stored is not None
    assert stored["reason"]["S"] == "bounce"
    assert counters(local_stack, project, sent) == {"failed_temporary": 1, "failed_permanent": 1}


def test_a_complaint_suppresses_and_an_unsubscribe_turns_consent_off(
    local_stack: LocalStack, project: MailProject, sent: SentMail, post: Callable[..., requests.Response]
) -> None:
    assert post(sent, "unsubscribed").ok
    assert subscription(local_stack, project, sent) is False
    assert post(sent, "complained").ok
    stored = suppression(local_stack, project, sent.address)
    assert stored is not None
    assert stored["reason"]["S"] == "complaint"


def test_forged_stale_replayed_and_unknown_webhooks_are_406_and_change_nothing(
    local_stack: LocalStack,
    project: MailProject,
    sent: SentMail,
    post: Callable[..., requests.Response],
    post_raw: Callable[[bytes], requests.Response],
) -> None:
    assert post(sent, "complained", key="not-the-signing-key").status_code == 406
    assert post(sent, "complained", stamp=int(time.time()) - 3600).status_code == 406

    token = secrets.token_hex(25)
    stamp = str(int(time.time()))
    document: dict[str, Any] = {
        "signature": {"timestamp": stamp, "token": token, "signature": sign(project.signing_key, stamp, token)},
        "event-data": {
            "event": "opened",
            "id": "replayed-event",
            "timestamp": time.time(),
            "recipient": sent.address,
            "domain": {"name": project.domain},
            "user-variables": {"tagmail_send": sent.send_key},
        },
    }
    body = json.dumps(document).encode()
    assert post_raw(body).status_code == 200
    assert post_raw(body).status_code == 406

    document["event-data"]["domain"] = {"name": "nobody.example"}
    assert post_raw(json.dumps(document).encode()).status_code == 406

    assert suppression(local_stack, project, sent.address) is None
    assert counters(local_stack, project, sent) == {"opened": 1, "unique_opened": 1}


def test_malformed_and_oversized_bodies_are_refused(post_raw: Callable[[bytes], requests.Response]) -> None:
    assert post_raw(b"{not json").status_code == 400
    assert post_raw(b'{"signature": {}}').status_code == 400
    assert post_raw(b"{" + b" " * 300_000 + b"}").status_code == 413
