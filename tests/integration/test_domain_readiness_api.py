"""Domain readiness over the local stack: a DNS server on 127.0.0.1 publishes the records the
Mailgun sandbox asks for; the admin API and the command line give the same report; sending opens
once the check passes (here with no waiting time); the daily schedule notifies a breakage once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.mailgun_sandbox import MailgunSandbox
from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.services.projects import CreatedProject
from tests.integration.dns_zones import MAILGUN_ZONE, ZoneFileResolver, mailgun_zone, zone_server
from tests.integration.test_admin_api import TEMPLATE, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

Api = Callable[..., requests.Response]
NOTIFY = "ops@dns-shop.test"


@pytest.fixture(scope="module")
def sandbox(local_stack: LocalStack) -> MailgunSandbox:
    assert local_stack.sandbox is not None
    return local_stack.sandbox


@pytest.fixture(scope="module")
def domain(sandbox: MailgunSandbox) -> str:
    name = f"mg.dns-{uuid.uuid4().hex[:8]}.test"
    sandbox.add_domain(name, state="active", dkim_selector="krs")
    return name


@pytest.fixture(scope="module")
def dns(local_stack: LocalStack, sandbox: MailgunSandbox, domain: str) -> Iterator[ZoneFileResolver]:
    """A DNS server publishing every sandbox domain's records, used by the stack's functions."""
    items = sandbox.list_domains({"limit": "1000"})["items"]
    zone = MAILGUN_ZONE + "".join(mailgun_zone(sandbox.domain(item["name"])) for item in items)
    resolver = ZoneFileResolver(zone)
    with zone_server(resolver) as (host, port):
        previous = os.environ.get("DNS_SERVER")
        os.environ["DNS_SERVER"] = f"{host}:{port}"
        bootstrap.reset()
        try:
            yield resolver
        finally:
            if previous is None:
                os.environ.pop("DNS_SERVER", None)
            else:
                os.environ["DNS_SERVER"] = previous
            bootstrap.reset()


@pytest.fixture(scope="module")
def project(local_stack: LocalStack, sandbox: MailgunSandbox, domain: str) -> CreatedProject:
    created = bootstrap.project_admin().create_project("dns shop")
    settings = {
        "sending_domain": domain,
        "sender_name": "DNS Shop",
        "sender_address": f"news@{domain}",
        "reply_to": "support@dns-shop.test",
        "notification_address": NOTIFY,
        "postal_address": "1-2-3 Chiyoda, Tokyo",
        "mailgun_base_url": sandbox.url,
        "mailgun_api_key": sandbox.api_key,
        "webhook_signing_key": sandbox.signing_key,
        "sending_wait_hours": 0,
    }
    response = requests.put(
        f"{local_stack.api_url}/admin/v1/settings",
        json=settings,
        headers={"Authorization": f"Bearer {created.admin_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return created


@pytest.fixture
def api(local_stack: LocalStack, project: CreatedProject) -> Api:
    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {project.admin_key}"}
        return requests.request(method, f"{local_stack.api_url}/admin/v1{path}", headers=headers, timeout=30, **kwargs)

    return call


def test_sending_opens_only_after_the_check_passes(api: Api, dns: ZoneFileResolver, domain: str) -> None:
    template_id = api("POST", "/templates", json=TEMPLATE).json()["id"]
    test_send = {"to": "qa@dns-shop.test", "template_id": template_id, "user": {"name": "QA"}}

    before = api("POST", "/test-send", json=test_send).json()["send_key"]
    refused = wait_for(lambda: message(api, before), "the refused test send's record")
    checked = api("POST", "/domain/check")
    after = api("POST", "/test-send", json=test_send).json()["send_key"]
    sent = wait_for(lambda: message(api, after), "the test send's record")

    assert (refused["status"], refused["reason"]) == ("skipped", "domain_not_ready:unchecked")
    assert checked.status_code == 200, checked.text
    report = checked.json()
    assert [check["status"] for check in report["checks"]] == ["pass"] * 5, report
    assert report["sending_open"] is True
    assert sent["status"] in ("accepted", "delivered", "opened", "clicked")


def test_the_api_and_the_command_line_give_the_same_report(
    api: Api, dns: ZoneFileResolver, project: CreatedProject
) -> None:
    # The command as people run it: its own process, configured by the environment (the stack's).
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "core"), "POWERTOOLS_METRICS_DISABLED": "true"}
    command = [sys.executable, "-m", "tagmail.cli", "domain", "check", "--project", project.project_id, "--json"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, check=False)
    shown = api("GET", "/domain").json()

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == shown
    assert shown["checks"][1]["found"][0].startswith("k=rsa; p=")  # the DKIM key at krs._domainkey


def test_the_daily_check_notifies_a_broken_record_once(
    local_stack: LocalStack, sandbox: MailgunSandbox, api: Api, dns: ZoneFileResolver, domain: str
) -> None:
    api("POST", "/domain/check")
    kept = dns.records
    dns.records = [rr for rr in kept if str(rr.rname) != f"krs._domainkey.{domain}."]
    try:
        local_stack.run_schedule_now("DomainCheckFunction")
        local_stack.run_schedule_now("DomainCheckFunction")
        assert local_stack.wait_idle(30)
        notices = wait_for(
            lambda: [m for m in sandbox.messages(domain) if NOTIFY in str(m.get("to"))], "the notice in the sandbox"
        )
        report = api("GET", "/domain").json()
    finally:
        dns.records = kept

    assert len(notices) == 1
    assert domain in notices[0]["subject"]
    assert f"krs._domainkey.{domain}" in notices[0]["html"]
    assert report["closed_reason"] == "domain_not_ready:dkim"


def message(api: Api, send_key: str) -> dict[str, Any] | None:
    response = api("GET", f"/messages/{send_key}")
    if response.status_code != 200 or response.json()["status"] == "sending":
        return None
    found: dict[str, Any] = response.json()
    return found
