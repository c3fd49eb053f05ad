"""The unsubscribe link on the local stack: GET and POST /u/{token} over real HTTP, consent in DynamoDB."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.adapters.dynamodb import DynamoProjects, DynamoUsers
from tagmail.domain.settings import MailSettings
from tagmail.domain.unsubscribe import UnsubscribeClaim, make_token
from tagmail.domain.users import UserProfile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(local_stack: LocalStack) -> tuple[str, str]:
    """A project of its own with a sender name; its id and unsubscribe secret."""
    created = bootstrap.project_admin().create_project("unsubscribes")
    projects = DynamoProjects(bootstrap.tables().projects)
    stored = projects.get(created.project_id)
    assert stored is not None
    projects.update(replace(stored, settings=MailSettings(sender_name="Shop <Tokyo>", default_locale="ja")))
    secrets = bootstrap.secret_store().get(created.project_id)
    assert secrets is not None
    return created.project_id, secrets.unsubscribe_secret


def subscriber(project_id: str, locale: str | None = None) -> str:
    user_id = f"u-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    profile = replace(
        UserProfile.new(project_id, f"u:{user_id}", now),
        email=f"{user_id}@example.jp",
        email_canonical=f"{user_id}@example.jp",
        subscription=True,
        locale=locale,
    )
    assert DynamoUsers(bootstrap.tables().users).save(profile, expected=None)
    return user_id


def user_item(stack: LocalStack, project_id: str, user_id: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_names["UsersTable"],
        Key={"pk": {"S": f"{project_id}#u:{user_id}"}},
        ConsistentRead=True,
    )
    return dict(item["Item"])


def unsubscribed_count(stack: LocalStack, project_id: str, campaign: str) -> int:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_names["StatsTable"],
        Key={"pk": {"S": f"{project_id}#{campaign}"}, "sk": {"S": "-"}},
        ConsistentRead=True,
    )
    return int(item.get("Item", {}).get("unsubscribed", {}).get("N", 0))


def test_get_shows_the_page_and_one_click_post_unsubscribes(local_stack: LocalStack, project: tuple[str, str]) -> None:
    project_id, secret = project
    user_id = subscriber(project_id)
    campaign = f"c-{uuid.uuid4().hex[:6]}"
    url = f"{local_stack.api_url}/u/{make_token(secret, UnsubscribeClaim(project_id, f'u:{user_id}', campaign))}"

    page = requests.get(url, headers={"accept-language": "en"}, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-frame-options"] == "DENY"
    assert "Shop &lt;Tokyo&gt;" in page.text
    assert user_item(local_stack, project_id, user_id)["subscription"]["BOOL"] is True

    # What Gmail sends (RFC 8058): a form POST to the List-Unsubscribe URL.
    one_click = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert one_click.status_code == 200
    assert "配信を停止しました" in one_click.text
    assert user_item(local_stack, project_id, user_id)["subscription"]["BOOL"] is False
    assert unsubscribed_count(local_stack, project_id, campaign) == 1

    # The same as multipart/form-data, and again: nothing more to count.
    again = requests.post(url, files={"List-Unsubscribe": (None, "One-Click")}, timeout=10)
    assert again.status_code == 200
    assert unsubscribed_count(local_stack, project_id, campaign) == 1

    back = requests.post(url, data={"action": "resubscribe"}, timeout=10)
    assert back.status_code == 200
    assert user_item(local_stack, project_id, user_id)["subscription"]["BOOL"] is True


def test_a_token_altered_to_name_another_user_changes_nobody(local_stack: LocalStack, project: tuple[str, str]) -> None:
    project_id, secret = project
    alice, bob = subscriber(project_id), subscriber(project_id)
    alice_token = make_token(secret, UnsubscribeClaim(project_id, f"u:{alice}", "c1"))
    bob_payload = make_token("guess", UnsubscribeClaim(project_id, f"u:{bob}", "c1")).split(".")[1]
    forged = ".".join((project_id, bob_payload, alice_token.split(".")[2]))

    response = requests.post(f"{local_stack.api_url}/u/{forged}", data={"List-Unsubscribe": "One-Click"}, timeout=10)

    assert response.status_code == 400
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert user_item(local_stack, project_id, bob)["subscription"]["BOOL"] is True
    assert user_item(local_stack, project_id, alice)["subscription"]["BOOL"] is True


def test_an_unknown_project_is_404(local_stack: LocalStack, project: tuple[str, str]) -> None:
    token = make_token("whatever", UnsubscribeClaim("pnotaproject", "u:someone", "c1"))
    assert requests.get(f"{local_stack.api_url}/u/{token}", timeout=10).status_code == 404
