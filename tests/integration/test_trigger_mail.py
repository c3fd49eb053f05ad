"""Trigger campaigns on the local stack: the admin and tracking APIs over real HTTP, moto's DynamoDB
and Step Functions (which really runs the delayed-send state machine's Wait and sqs:sendMessage),
the trigger and send functions, and the Mailgun sandbox. Delays are a few seconds here; the delay
arithmetic itself is unit-tested on real durations.

Each test has its own project (settings, sending domain and template through the admin API), so
no trigger function's campaign cache holds an older view of it."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests

from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.adapters.domain_readiness_store import DynamoDomainReadiness
from tagmail.domain.dns_readiness import DomainReadiness, ReadinessReport
from tagmail.domain.sending import MessageStatus, SendKind, SendRequest
from tagmail.domain.stats import Counter
from tagmail.domain.triggers import execution_name
from tests.integration.test_admin_api import settings_body
from tests.integration.test_send_end_to_end import (
    identify,
    mails_to,
    new_user,
    record,
    status_becomes,
    wait_for,
)

pytestmark = pytest.mark.integration

CART_TEMPLATE = {
    "name": "cart reminder",
    "default_locale": "ja",
    "contents": {
        "ja": {"subject": "カートに商品が残っています", "html": "<p>{{ event.properties.product }}</p>"},
        "en": {"subject": "You left something in your cart", "html": "<p>{{ event.properties.product }}</p>"},
    },
}


@dataclass(frozen=True)
class Shop:
    """A project of its own with a sandbox domain, a two-locale template, and HTTP helpers."""

    stack: LocalStack
    project_id: str
    write_key: str
    admin_key: str
    template_id: str

    def admin(self, method: str, path: str, payload: Any = None) -> requests.Response:
        return requests.request(
            method,
            f"{self.stack.api_url}/admin/v1{path}",
            json=payload,
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=10,
        )

    def track(self, message: dict[str, Any], endpoint: str = "track") -> None:
        auth = base64.b64encode(f"{self.write_key}:".encode()).decode()
        response = requests.post(
            f"{self.stack.api_url}/v1/{endpoint}", json=message, headers={"Authorization": f"Basic {auth}"}, timeout=10
        )
        assert response.status_code == 200, response.text

    def customer(self, prefix: str, **traits: Any) -> tuple[str, str]:
        user_id, address = new_user(prefix)
        self.track({"userId": user_id, "traits": {"email": address, "subscription": True, **traits}}, "identify")
        return user_id, address

    def campaign(self, *, delay_seconds: int | None = 3, activate: bool = True, **fields: Any) -> dict[str, Any]:
        timing = {"kind": "delay", "delay_seconds": delay_seconds} if delay_seconds else {"kind": "immediate"}
        trigger = {
            "entry_event": "cart_add",
            "exit_events": ["purchase"],
            "exit_key_property": "cart_id",
            "timing": timing,
            **fields.pop("trigger", {}),
        }
        payload = {
            "name": f"cart abandonment {uuid.uuid4().hex[:6]}",
            "variants": [{"name": "A", "template_id": self.template_id}],
            "trigger": trigger,
            **fields,
        }
        response = self.admin("POST", "/campaigns", payload)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        if activate:
            activated = self.admin("POST", f"/campaigns/{created['id']}/activate")
            assert activated.status_code == 200, activated.text
            created = activated.json()
        return created

    def counters(self, campaign_id: str, group: str = "A") -> dict[Counter, int]:
        return bootstrap.stats_store().of_campaign(self.project_id, campaign_id).get(group, {})

    def executions(self, campaign_id: str, user_id: str, message_id: str) -> str:
        name = execution_name(self.project_id, campaign_id, f"u:{user_id}", message_id)
        return bootstrap.delayed_sends().execution_arn(name)

    def execution_status(self, arn: str) -> str:
        return str(self.stack.client("stepfunctions").describe_execution(executionArn=arn)["status"])


@pytest.fixture
def shop(local_stack: LocalStack) -> Shop:
    assert local_stack.sandbox is not None
    created = bootstrap.project_admin().create_project(f"trigger shop {uuid.uuid4().hex[:6]}")
    domain = f"mg.trigger-{uuid.uuid4().hex[:8]}.test"
    shop = Shop(local_stack, created.project_id, created.write_key, created.admin_key, "")
    settings = shop.admin("PUT", "/settings", settings_body(domain, local_stack.sandbox, default_locale="ja"))
    assert settings.status_code == 200, settings.text
    local_stack.sandbox.set_domain_state(domain, "active")
    open_sending(created.project_id, domain)
    template = shop.admin("POST", "/templates", CART_TEMPLATE)
    assert template.status_code == 201, template.text
    return Shop(local_stack, created.project_id, created.write_key, created.admin_key, template.json()["id"])


def open_sending(project_id: str, domain: str) -> None:
    """The sandbox's domains are in no DNS: record theirs as passing for long enough, as the demo
    project's are, so the project sends at once."""
    now = bootstrap.utc_now()
    readiness = DomainReadiness(domain, now, passing_since=now - timedelta(days=30))
    DynamoDomainReadiness(bootstrap.tables().projects).save(project_id, readiness, ReadinessReport(domain, now, ()))


def cart_add(shop: Shop, user_id: str, cart_id: str, message_id: str | None = None) -> str:
    message_id = message_id or f"m-{uuid.uuid4().hex}"
    shop.track(
        {
            "userId": user_id,
            "event": "cart_add",
            "messageId": message_id,
            "properties": {"cart_id": cart_id, "product": "Tシャツ"},
        }
    )
    return message_id


def purchase(shop: Shop, user_id: str, cart_id: str) -> None:
    shop.track({"userId": user_id, "event": "purchase", "properties": {"cart_id": cart_id, "revenue": 3980}})


# -- the admin API ------------------------------------------------------------------------------


def test_a_campaign_is_stored_edited_and_activated_through_the_admin_api(shop: Shop) -> None:
    created = shop.campaign(activate=False, holdout=0.25)

    edited = shop.admin("PATCH", f"/campaigns/{created['id']}", {"name": "Cart", "revision": created["revision"]})
    stale = shop.admin("PATCH", f"/campaigns/{created['id']}", {"name": "Late", "revision": created["revision"]})
    activated = shop.admin("POST", f"/campaigns/{created['id']}/activate")

    assert edited.status_code == 200, edited.text
    assert stale.status_code == 409
    assert activated.status_code == 200, activated.text
    stored = bootstrap.campaign_store().get(shop.project_id, created["id"])
    assert stored is not None
    assert (stored.name, stored.status.value, stored.holdout) == ("Cart", "active", 0.25)
    assert stored.trigger is not None
    assert stored.trigger.exit_key_property == "cart_id"
    assert [(v.template_id, v.template_version) for v in stored.variants] == [(shop.template_id, 1)]
    read = shop.admin("GET", f"/campaigns/{created['id']}").json()
    assert read == {key: value for key, value in activated.json().items() if key != "stopped"}


# -- the delayed-send state machine ---------------------------------------------------------------


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


# -- cart abandonment end to end --------------------------------------------------------------------


def test_a_cart_left_alone_brings_the_mail_after_the_delay(shop: Shop) -> None:
    campaign = shop.campaign(delay_seconds=3)
    user_id, address = shop.customer("cart")

    message_id = cart_add(shop, user_id, "c-1")

    [mail] = wait_for(lambda: mails_to(shop.stack, address), "the cart mail")
    assert mail["subject"] == "カートに商品が残っています"
    assert "Tシャツ" in mail["html"], "the entry event's properties reach the template"
    assert campaign["id"] in mail["tags"]
    arn = shop.executions(campaign["id"], user_id, message_id)
    wait_for(lambda: shop.execution_status(arn) == "SUCCEEDED", "the execution's end")
    sent = bootstrap.message_store().get(shop.project_id, mail["user_variables"]["tagmail_send"])
    assert sent is not None
    assert (sent.campaign_id, sent.variant) == (campaign["id"], "A")
    entered = bootstrap.campaign_entries().of_user(shop.project_id, f"u:{user_id}")
    assert [e.entry_id for e in entered] == [message_id]
    # The mail waited for its delay (moto's Wait wakes up to a second early).
    assert sent.created_at - entered[0].entered_at >= timedelta(seconds=1)
    counters = shop.counters(campaign["id"])
    assert (counters[Counter.ENTERED], counters[Counter.SCHEDULED]) == (1, 1)


def test_buying_the_cart_before_the_delay_stops_the_execution_and_no_mail_goes(shop: Shop) -> None:
    campaign = shop.campaign(delay_seconds=30)
    user_id, address = shop.customer("buyer")
    message_id = cart_add(shop, user_id, "c-7")
    arn = shop.executions(campaign["id"], user_id, message_id)
    wait_for(lambda: shop.counters(campaign["id"]).get(Counter.SCHEDULED), "the scheduled send")

    purchase(shop, user_id, "c-7")

    wait_for(lambda: shop.execution_status(arn) == "ABORTED", "the stopped execution")
    assert wait_for(lambda: shop.counters(campaign["id"]).get(Counter.CANCELLED), "the cancellation") == 1
    assert mails_to(shop.stack, address) == []


def test_the_same_event_delivered_twice_makes_one_execution_and_one_mail(shop: Shop) -> None:
    campaign = shop.campaign(delay_seconds=3)
    user_id, address = shop.customer("twice")
    message_id = cart_add(shop, user_id, "c-2")
    cart_add(shop, user_id, "c-2", message_id=message_id)  # the client's retry: the same messageId
    wait_for(lambda: shop.counters(campaign["id"]).get(Counter.SCHEDULED), "the scheduled send")

    # The stream delivers at least once: hand the trigger function the same record twice more.
    record = stream_record(shop, user_id, message_id)
    for _ in range(2):
        assert shop.stack.function("TriggerFunction")({"Records": [record]}) == {"batchItemFailures": []}

    wait_for(lambda: mails_to(shop.stack, address), "the mail")
    arn = shop.executions(campaign["id"], user_id, message_id)
    wait_for(lambda: shop.execution_status(arn) == "SUCCEEDED", "the execution's end")
    machine = bootstrap.config().delayed_send_state_machine_arn
    executions = shop.stack.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert [e["executionArn"] for e in executions].count(arn) == 1
    assert len(mails_to(shop.stack, address)) == 1
    counters = shop.counters(campaign["id"])
    assert (counters[Counter.ENTERED], counters[Counter.SCHEDULED]) == (1, 1)


def test_a_campaign_edited_after_scheduling_leaves_the_scheduled_mail_as_it_was(shop: Shop) -> None:
    campaign = shop.campaign(delay_seconds=4)
    user_id, address = shop.customer("edited")
    cart_add(shop, user_id, "c-3")
    wait_for(lambda: shop.counters(campaign["id"]).get(Counter.SCHEDULED), "the scheduled send")

    contents = {"ja": {"subject": "新しい件名", "html": "<p>v2</p>"}}
    added = shop.admin(
        "POST", f"/templates/{shop.template_id}/versions", {"default_locale": "ja", "contents": contents}
    )
    edited = shop.admin(
        "PATCH", f"/campaigns/{campaign['id']}", {"variants": [{"name": "B", "template_id": shop.template_id}]}
    )

    assert added.status_code == 201, added.text
    assert edited.json()["variants"] == [
        {"name": "B", "template_id": shop.template_id, "template_version": 2, "weight": 1}
    ]
    [mail] = wait_for(lambda: mails_to(shop.stack, address), "the mail")
    assert mail["subject"] == "カートに商品が残っています", "version 1, pinned when it was scheduled"
    assert f"{campaign['id']}:A" in mail["tags"]


def test_the_frequency_cap_lets_one_cart_mail_through_per_period(shop: Shop) -> None:
    campaign = shop.campaign(delay_seconds=3)
    user_id, address = shop.customer("capped")

    cart_add(shop, user_id, "c-1")
    cart_add(shop, user_id, "c-2")

    wait_for(lambda: mails_to(shop.stack, address), "the first cart's mail")
    assert wait_for(lambda: shop.counters(campaign["id"]).get(Counter.CAPPED), "the capped entry") == 1
    assert len(mails_to(shop.stack, address)) == 1
    assert shop.counters(campaign["id"])[Counter.SCHEDULED] == 1


def stream_record(shop: Shop, user_id: str, message_id: str) -> dict[str, Any]:
    """The events table's item as the INSERT record its stream delivers."""
    item = shop.stack.client("dynamodb").get_item(
        TableName=shop.stack.physical_names["EventsTable"],
        Key={"pk": {"S": f"{shop.project_id}#u:{user_id}"}, "sk": {"S": f"m:{message_id}"}},
        ConsistentRead=True,
    )["Item"]
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": item["pk"], "sk": item["sk"]},
            "NewImage": item,
            "SequenceNumber": "1",
            "SizeBytes": 200,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-12-01T00:00:00.000",
    }


# -- the send path's last look ----------------------------------------------------------------------


def test_a_lost_stop_cannot_send_the_mail_of_a_bought_cart(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = shop.campaign(delay_seconds=3)
    user_id, address = shop.customer("lost-stop")
    # StopExecution lost (a failure, a race with the Wait's end): the execution runs to its end.
    monkeypatch.setattr(bootstrap.delayed_sends(), "stop", lambda execution_arn: None)
    message_id = cart_add(shop, user_id, "c-5")
    wait_for(lambda: shop.counters(campaign["id"]).get(Counter.SCHEDULED), "the scheduled send")

    purchase(shop, user_id, "c-5")

    arn = shop.executions(campaign["id"], user_id, message_id)
    wait_for(lambda: shop.execution_status(arn) == "SUCCEEDED", "the execution that was not stopped")
    request = SendRequest(
        project_id=shop.project_id,
        kind=SendKind.MARKETING,
        template_id=shop.template_id,
        occurrence=message_id,
        campaign_id=campaign["id"],
        user_key=f"u:{user_id}",
    )
    skipped = wait_for(lambda: bootstrap.message_store().get(shop.project_id, request.send_key), "the send record")
    assert (skipped.status, skipped.reason) == (MessageStatus.SKIPPED, "exited")
    assert mails_to(shop.stack, address) == []


def test_a_visitor_who_signs_in_before_the_mail_is_due_gets_it(shop: Shop) -> None:
    shop.campaign(delay_seconds=4)
    anonymous_id = f"anon-{uuid.uuid4().hex[:8]}"
    user_id, address = new_user("late-signin")
    shop.track({"anonymousId": anonymous_id, "event": "cart_add", "properties": {"cart_id": "c-8", "product": "靴"}})

    shop.track(
        {"userId": user_id, "anonymousId": anonymous_id, "traits": {"email": address, "subscription": True}},
        "identify",
    )

    [mail] = wait_for(lambda: mails_to(shop.stack, address), "the mail to the identified visitor")
    assert "靴" in mail["html"]


def test_pausing_stops_the_pending_mails(shop: Shop) -> None:
    campaign = shop.campaign(delay_seconds=30)
    user_id, address = shop.customer("paused")
    message_id = cart_add(shop, user_id, "c-4")
    wait_for(lambda: shop.counters(campaign["id"]).get(Counter.SCHEDULED), "the scheduled send")

    paused = shop.admin("POST", f"/campaigns/{campaign['id']}/pause")

    assert paused.status_code == 200, paused.text
    assert paused.json()["stopped"] == 1
    assert shop.execution_status(shop.executions(campaign["id"], user_id, message_id)) == "ABORTED"
    assert shop.counters(campaign["id"])[Counter.CANCELLED] == 1
    assert mails_to(shop.stack, address) == []


@pytest.mark.parametrize(("locale", "subject"), [("en-GB", "You left something"), ("fr-FR", "You left something")])
def test_the_mail_is_in_the_readers_language_else_the_campaigns_default(shop: Shop, locale: str, subject: str) -> None:
    shop.campaign(delay_seconds=None, default_locale="en")  # immediate
    user_id, address = shop.customer("locale", locale=locale)

    cart_add(shop, user_id, "c-6")

    [mail] = wait_for(lambda: mails_to(shop.stack, address), "the mail")
    assert mail["subject"].startswith(subject)


def test_holdout_users_get_nothing_and_are_counted(shop: Shop) -> None:
    created = shop.campaign(delay_seconds=None, holdout=0.5)  # immediate
    campaign = bootstrap.campaign_store().get(shop.project_id, created["id"])
    assert campaign is not None
    held: list[tuple[str, str]] = []
    mailed: list[tuple[str, str]] = []
    while len(held) < 3 or len(mailed) < 3:  # the hash decides: take three of each
        user_id, address = new_user("holdout")
        group = held if campaign.assign(f"u:{user_id}").holdout else mailed
        if len(group) < 3:
            group.append((user_id, address))
    for user_id, address in held + mailed:
        shop.track({"userId": user_id, "traits": {"email": address, "subscription": True}}, "identify")

    for user_id, _ in held + mailed:
        cart_add(shop, user_id, "c-1")

    for _, address in mailed:
        wait_for(lambda address=address: mails_to(shop.stack, address), "the mail of a user in the test")
    counted = wait_for(
        lambda: (row := shop.counters(created["id"], "holdout")).get(Counter.ENTERED) == 3 and row,
        "the holdout's counters",
    )
    assert counted[Counter.HOLDOUT] == 3
    assert counted.get(Counter.SCHEDULED, 0) == 0
    assert all(mails_to(shop.stack, address) == [] for _, address in held)
    assert shop.counters(created["id"])[Counter.SCHEDULED] == 3


def test_a_purchase_after_the_mail_shows_in_the_results(shop: Shop) -> None:
    campaign = shop.campaign(delay_seconds=None)  # immediate
    user_id, address = shop.customer("converts")
    cart_add(shop, user_id, "c-1")
    [mail] = wait_for(lambda: mails_to(shop.stack, address), "the mail")
    send_key = mail["user_variables"]["tagmail_send"]
    wait_for(lambda: (r := bootstrap.message_store().get(shop.project_id, send_key)) and r.mailgun_id, "the send")

    purchase(shop, user_id, "c-1")

    def converted() -> dict[str, Any] | None:
        groups = shop.admin("GET", f"/campaigns/{campaign['id']}/results").json()["groups"]
        return next((g for g in groups if g["group"] == "A" and g["converted"]), None)

    group = wait_for(converted, "the conversion in the results")
    assert (group["entered"], group["sent"], group["converted"], group["revenue"]) == (1, 1, 1, 3980.0)
    assert group["conversion_rate"] == 1.0
