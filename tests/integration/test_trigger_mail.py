"""Trigger campaigns on the local stack: the admin API over real HTTP, moto's DynamoDB and Step
Functions (which really runs the delayed-send state machine's Wait and sqs:sendMessage), the send
function, and the Mailgun sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.domain.sending import MessageStatus, SendKind, SendRequest
from tagmail.domain.triggers import execution_name
from tests.integration.test_send_end_to_end import identify, mails_to, new_user, record, status_becomes

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


def execution_status(local_stack: LocalStack, arn: str) -> str:
    return str(local_stack.client("stepfunctions").describe_execution(executionArn=arn)["status"])


def test_a_delayed_send_waits_until_due_then_takes_the_send_path(local_stack: LocalStack) -> None:
    assert local_stack.project is not None
    user_id, address = new_user("delayed")
    identify(local_stack, user_id, email=address, subscription=True)
    request = SendRequest(
        project_id=local_stack.project.id,
        kind=SendKind.MARKETING,
        template_id="welcome",
        occurrence=uuid.uuid4().hex,
        campaign_id="delayed-machine",
        variant="A",
        user_key=f"u:{user_id}",
    )
    name = execution_name(request.project_id, request.campaign_id, f"u:{user_id}", request.occurrence)
    sends = bootstrap.delayed_sends()

    arn = sends.start(name, bootstrap.utc_now() + timedelta(seconds=3), request)
    again = sends.start(name, bootstrap.utc_now() + timedelta(seconds=3), request)

    assert again == arn, "a name started again is the same pending send"
    assert execution_status(local_stack, arn) == "RUNNING"
    assert record(local_stack, request.send_key) is None, "nothing is sent before it is due"
    delivered = status_becomes(local_stack, request.send_key, MessageStatus.DELIVERED)
    assert delivered.campaign_id == "delayed-machine"
    assert len(mails_to(local_stack, address)) == 1
    assert execution_status(local_stack, arn) == "SUCCEEDED"


def test_a_stopped_delayed_send_never_runs(local_stack: LocalStack) -> None:
    assert local_stack.project is not None
    request = SendRequest(
        project_id=local_stack.project.id,
        kind=SendKind.MARKETING,
        template_id="welcome",
        occurrence=uuid.uuid4().hex,
        user_key="u:nobody",
    )
    sends = bootstrap.delayed_sends()
    arn = sends.start(f"ds-stop-{request.occurrence}", bootstrap.utc_now() + timedelta(minutes=10), request)

    sends.stop(arn)
    sends.stop(arn)  # stopping again, or an unknown send, is no error
    sends.stop(sends.execution_arn("ds-never-started"))

    assert execution_status(local_stack, arn) == "ABORTED"
