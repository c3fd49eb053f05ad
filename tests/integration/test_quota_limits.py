"""Sending limits and quota notices on the local stack: moto's DynamoDB, the send queue and
function, the quota schedule, and the Mailgun sandbox. Concurrent senders cross 90 % and 100 %
of the monthly limit: each notice arrives once, and Mailgun accepts no more than the limit.

Each test has a project of its own, with its own sending domain at the sandbox (webhooks find a
project by its domain), so the demo project and the other tests are untouched."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from moto.dynamodb.models import DynamoDBBackend

from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.adapters.domain_readiness_store import DynamoDomainReadiness
from tagmail.adapters.dynamodb import DynamoUsers
from tagmail.domain.dns_readiness import DomainReadiness, ReadinessReport
from tagmail.domain.sending import QUOTA_EXHAUSTED, MessageStatus, SendKind, SendRequest
from tagmail.domain.settings import MailSettings
from tagmail.domain.templates import MailContent, Template, TemplateVersion
from tagmail.domain.usage import month_of
from tagmail.domain.users import UserProfile
from tagmail.services.send import SendOutcome, TransientSendFailure
from tagmail.services.settings import SettingsChange

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 60
SENDERS = 50
LIMIT = 20


def wait_for(condition: Callable[[], Any], what: str, seconds: float = DEADLINE_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(autouse=True)
def atomic_conditional_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB checks a write's condition and applies the write as one atomic step per item.
    moto's server handles requests on many threads and checks, then writes, without a lock, so two
    concurrent ADDs could both pass one check there. Give moto the atomicity DynamoDB has (the
    server runs in this process), so these tests measure tagmail, not a gap in the emulator."""
    lock = threading.RLock()

    def atomic(write: Callable[..., Any]) -> Callable[..., Any]:
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return locked

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        monkeypatch.setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))


@dataclass
class Shop:
    stack: LocalStack
    name: str
    project_id: str
    admin_key: str
    domain: str
    notification_address: str

    @property
    def month(self) -> str:
        return month_of(datetime.now(UTC), "Asia/Tokyo")

    def customer(self, n: int) -> str:
        return f"buyer{n}@{self.domain.removeprefix('mg.')}.example"

    def request(self, n: int, occurrence: str = "launch") -> SendRequest:
        return SendRequest(
            project_id=self.project_id,
            kind=SendKind.MARKETING,
            template_id="sale",
            occurrence=occurrence,
            campaign_id="launch",
            variant="A",
            user_key=f"u:buyer{n}",
        )

    def add_customers(self, count: int) -> None:
        users = DynamoUsers(bootstrap.tables().users)
        now = datetime.now(UTC)
        for n in range(count):
            address = self.customer(n)
            profile = replace(
                UserProfile.new(self.project_id, f"u:buyer{n}", now),
                email=address,
                email_canonical=address,
                subscription=True,
            )
            assert users.save(profile, None)

    def set_limits(self, **limits: Any) -> None:
        service = bootstrap.settings_service()
        current = service.get(self.project_id).settings
        service.update(self.project_id, SettingsChange(replace(current, **limits)))

    def accepted_mails(self) -> list[dict[str, Any]]:
        assert self.stack.sandbox is not None
        return [m for m in self.stack.sandbox.messages(self.domain) if self.notification_address not in m["recipients"]]

    def notices(self) -> list[dict[str, Any]]:
        assert self.stack.sandbox is not None
        return [m for m in self.stack.sandbox.messages(self.domain) if self.notification_address in m["recipients"]]

    def month_count(self) -> int:
        period = f"m#{self.month}"
        return bootstrap.usage_store().sent(self.project_id, period, period).get(period, 0)

    def admin(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = requests.request(
            method,
            f"{self.stack.api_url}/admin/v1{path}",
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=30,
            **kwargs,
        )
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    def settings(self) -> dict[str, Any]:
        """The settings as PUT takes them back (GET adds read-only fields)."""
        shown = self.admin("GET", "/settings")
        return {k: v for k, v in shown.items() if k not in ("webhook_url", "mailgun") and not k.endswith("_set")}

    def usage(self) -> dict[str, Any]:
        return self.admin("GET", "/usage")


@pytest.fixture
def shop(local_stack: LocalStack) -> Iterator[Shop]:
    sandbox = local_stack.sandbox
    assert sandbox is not None
    tag = uuid.uuid4().hex[:8]
    domain = f"mg.quota-{tag}.test"
    sandbox.add_domain(domain, state="active")
    name = f"Quota shop {tag}"
    created = bootstrap.project_admin().create_project(name)
    settings = MailSettings(
        sending_domain=domain,
        sender_name="Quota Shop",
        sender_address=f"news@{domain}",
        notification_address=f"ops@quota-{tag}.example",
        mailgun_base_url=sandbox.url,
        postal_address="1-2-3 Demo-cho, Chiyoda-ku, Tokyo",
        monthly_limit=LIMIT,
    )
    bootstrap.settings_service().update(
        created.project_id,
        SettingsChange(settings, mailgun_api_key=sandbox.api_key, webhook_signing_key=sandbox.signing_key),
    )
    now = datetime.now(UTC)
    # The sandbox's domain is in no DNS: record its SPF and DKIM as passing since long ago.
    readiness = DomainReadiness(domain, now, passing_since=now - timedelta(days=30))
    DynamoDomainReadiness(bootstrap.tables().projects).save(
        created.project_id, readiness, ReadinessReport(domain, now, ())
    )
    template = Template("sale", created.project_id, "Sale", 1, now, now)
    content = MailContent("{{ user.email }}: sale", "<p>Sale</p>")
    bootstrap.template_store().add_version(
        created.project_id, template, TemplateVersion("sale", 1, now, {"ja": content}, "ja")
    )
    yield Shop(local_stack, name, created.project_id, created.admin_key, domain, settings.notification_address or "")
    local_stack.wait_idle(10)


def send_all_at_once(requests_: list[SendRequest]) -> list[SendOutcome | Exception]:
    """Each request on a thread of its own, all released at the same moment."""
    start = threading.Barrier(len(requests_))
    service = bootstrap.send_service()

    def send(request: SendRequest) -> SendOutcome | Exception:
        start.wait(timeout=30)
        try:
            return service.send(request)
        except Exception as error:  # the outcome is what the test inspects
            return error

    with ThreadPoolExecutor(max_workers=len(requests_)) as pool:
        return list(pool.map(send, requests_))


def test_concurrent_senders_never_pass_the_limit_and_each_notice_arrives_once(shop: Shop) -> None:
    shop.add_customers(SENDERS)

    outcomes = send_all_at_once([shop.request(n) for n in range(SENDERS)])

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert outcomes.count(SendOutcome.SENT) == LIMIT
    assert outcomes.count(SendOutcome.SKIPPED) == SENDERS - LIMIT
    # The bound: with nothing left in flight, the count is the limit and Mailgun took exactly that.
    assert shop.month_count() == LIMIT
    accepted = shop.accepted_mails()
    assert len(accepted) == LIMIT
    assert len({recipient for mail in accepted for recipient in mail["recipients"]}) == LIMIT
    stopped = [
        bootstrap.message_store().get(shop.project_id, shop.request(n).send_key)
        for n, outcome in enumerate(outcomes)
        if outcome is SendOutcome.SKIPPED
    ]
    assert {(r.status, r.reason) for r in stopped if r is not None} == {(MessageStatus.SKIPPED, QUOTA_EXHAUSTED)}

    # The send path queued the 90 % and 100 % notices the moment they were crossed; the send
    # function delivers them through the same Mailgun path.
    notices = wait_for(lambda: len(shop.notices()) >= 2 and shop.notices(), "the two notices")
    for _ in range(3):  # the schedule's safety net, as often as EventBridge may retry it
        assert shop.stack.run_schedule_now("QuotaFunction")
    shop.stack.wait_idle(10)
    notices = shop.notices()
    assert len(notices) == 2
    assert [mail["recipients"] for mail in notices] == [[shop.notification_address]] * 2
    assert sorted(mail["subject"] for mail in notices) == [
        f"[tagmail] {shop.name}: 今月の送信数が上限に達しました",
        f"[tagmail] {shop.name}: 今月の送信数が上限の90%に達しました",
    ]
    assert all("list-unsubscribe" not in {h.lower() for h in mail["headers"]} for mail in notices)

    usage = shop.usage()
    assert (usage["sent_this_month"], usage["monthly_limit"], usage["sending_stopped"]) == (LIMIT, LIMIT, True)
    assert [notice["threshold"] for notice in usage["notices"]] == [90, 100]
    assert usage["last_24_hours"]["used"] == LIMIT


def test_with_overage_allowed_concurrent_senders_all_go_and_each_notice_still_arrives_once(shop: Shop) -> None:
    shop.set_limits(allow_overage=True)
    senders = LIMIT + 10
    shop.add_customers(senders)

    outcomes = send_all_at_once([shop.request(n) for n in range(senders)])

    assert outcomes.count(SendOutcome.SENT) == senders
    assert shop.month_count() == senders
    wait_for(lambda: len(shop.notices()) >= 2, "the two notices")
    shop.stack.run_schedule_now("QuotaFunction")
    shop.stack.wait_idle(10)
    assert len(shop.notices()) == 2
    assert len(shop.accepted_mails()) == senders


def test_sends_mailgun_refuses_give_their_places_back(shop: Shop) -> None:
    assert shop.stack.sandbox is not None
    shop.add_customers(SENDERS)
    # Mailgun rate-limits the first ten calls for ten minutes: those sends are released for the
    # queue's retry and give their places back meanwhile.
    path = f"/v3/{shop.domain}/messages"
    shop.stack.sandbox.set_fault(429, count=10, path_prefix=path, retry_after_seconds=600)

    outcomes = send_all_at_once([shop.request(n) for n in range(SENDERS)])

    assert len([o for o in outcomes if isinstance(o, TransientSendFailure)]) == 10
    # Whatever the interleaving, the count is exactly what Mailgun accepted: nothing leaked.
    assert shop.month_count() == len(shop.accepted_mails()) == outcomes.count(SendOutcome.SENT) <= LIMIT

    # The retries, and the sends the limit stopped while the rate-limited ones held places, fill
    # the freed places, and not one more goes.
    for n in range(SENDERS):
        bootstrap.send_service().send(shop.request(n))
    assert shop.month_count() == len(shop.accepted_mails()) == LIMIT


def test_requests_on_the_queue_stop_at_the_limit_and_resume_when_it_is_raised(shop: Shop) -> None:
    shop.set_limits(monthly_limit=5)
    shop.add_customers(12)
    sqs = shop.stack.client("sqs")
    for n in range(12):
        sqs.send_message(QueueUrl=shop.stack.queue_urls["SendQueue"], MessageBody=shop.request(n).to_json())
    wait_for(lambda: len(shop.notices()) >= 2, "the two notices")
    assert shop.stack.wait_idle(30)
    assert len(shop.accepted_mails()) == 5

    # A raised limit reopens sending at once: the same requests again resume the stopped sends.
    shop.admin("PUT", "/settings", json={**shop.settings(), "monthly_limit": 10})
    for n in range(12):
        sqs.send_message(QueueUrl=shop.stack.queue_urls["SendQueue"], MessageBody=shop.request(n).to_json())
    wait_for(lambda: len(shop.accepted_mails()) >= 10, "ten mails")
    assert shop.stack.wait_idle(30)
    accepted = shop.accepted_mails()
    assert len(accepted) == 10
    assert len({recipient for mail in accepted for recipient in mail["recipients"]}) == 10, "no one twice"
    assert len(shop.notices()) == 2, "a raised limit does not notify again within the month"
