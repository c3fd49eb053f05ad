"""Trigger campaigns on the local stack: the admin API over real HTTP and moto's DynamoDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tagmail import bootstrap

pytestmark = pytest.mark.integration

Api = Callable[..., requests.Response]


@pytest.fixture
def admin(local_stack: LocalStack) -> Api:
    assert local_stack.project is not None

    def call(method: str, path: str, payload: Any = None) -> requests.Response:
        return requests.request(
            method,
            f"{local_stack.api_url}/admin/v1{path}",
            json=payload,
            headers={"Authorization": f"Bearer {local_stack.project.admin_key}"},  # type: ignore[union-attr]
            timeout=10,
        )

    return call


def cart_campaign(admin: Api, *, delay_seconds: int = 3, **fields: Any) -> dict[str, Any]:
    payload = {
        "name": f"cart abandonment {uuid.uuid4().hex[:6]}",
        "variants": [{"name": "A", "template_id": "welcome"}],
        "trigger": {
            "entry_event": "cart_add",
            "exit_events": ["purchase"],
            "exit_key_property": "cart_id",
            "timing": {"kind": "delay", "delay_seconds": delay_seconds},
        },
        **fields,
    }
    response = admin("POST", "/campaigns", payload)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_campaign_is_stored_edited_and_activated_through_the_admin_api(local_stack: LocalStack, admin: Api) -> None:
    created = cart_campaign(admin, holdout=0.25)

    edited = admin("PATCH", f"/campaigns/{created['id']}", {"name": "Cart", "revision": created["revision"]})
    stale = admin("PATCH", f"/campaigns/{created['id']}", {"name": "Late", "revision": created["revision"]})
    activated = admin("POST", f"/campaigns/{created['id']}/activate")

    assert edited.status_code == 200, edited.text
    assert stale.status_code == 409
    assert activated.status_code == 200, activated.text
    stored = bootstrap.campaign_store().get(local_stack.project.id, created["id"])  # type: ignore[union-attr]
    assert stored is not None
    assert (stored.name, stored.status.value, stored.holdout) == ("Cart", "active", 0.25)
    assert stored.trigger is not None
    assert stored.trigger.exit_key_property == "cart_id"
    assert [(v.template_id, v.template_version) for v in stored.variants] == [("welcome", 1)]
    read = admin("GET", f"/campaigns/{created['id']}").json()
    assert read == {key: value for key, value in activated.json().items() if key != "stopped"}
