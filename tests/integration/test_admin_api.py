"""The admin API over real HTTP on the local stack: the in-process Lambda runner, moto's DynamoDB,
SQS and SSM, the send function, and the Mailgun sandbox behind the domain setup and test sends.

Each test module's projects are its own (the demo project stays as other tests expect it)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from dnslib.server import DNSServer
from dnslib.zoneresolver import ZoneResolver

from local.mailgun_sandbox import MailgunSandbox
from local.stack import LocalStack
from tagmail import bootstrap
from tagmail.adapters.domain_readiness_store import DynamoDomainReadiness
from tagmail.domain.dns_readiness import DomainReadiness, ReadinessReport
from tagmail.services.projects import CreatedProject
from tagmail.services.settings import WEBHOOK_TYPES

pytestmark = pytest.mark.integration

Api = Callable[..., requests.Response]
TEMPLATE = {
    "name": "welcome",
    "default_locale": "ja",
    "contents": {
        "ja": {"subject": "{{ user.name }}さん、ようこそ", "html": "<h1>ようこそ</h1><p>{{ user.name }}</p>"},
        "en": {"subject": "Welcome, {{ user.name }}", "html": "<h1>Welcome</h1><p>{{ user.name }}</p>"},
    },
}


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def new_project(name: str) -> CreatedProject:
    return bootstrap.project_admin().create_project(name)


@pytest.fixture(scope="module")
def project(local_stack: LocalStack) -> CreatedProject:
    return new_project("admin api")


@pytest.fixture(scope="module")
def other(local_stack: LocalStack) -> CreatedProject:
    return new_project("another shop")


@pytest.fixture(scope="module")
def sandbox(local_stack: LocalStack) -> MailgunSandbox:
    assert local_stack.sandbox is not None
    return local_stack.sandbox


@pytest.fixture
def api(local_stack: LocalStack, project: CreatedProject) -> Api:
    def call(method: str, path: str, *, key: str | None = "admin", **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {project.admin_key if key == 'admin' else key}"
        return requests.request(method, f"{local_stack.api_url}/admin/v1{path}", headers=headers, timeout=30, **kwargs)

    return call


@pytest.fixture(scope="module")
def domain() -> str:
    return f"mg.admin-{uuid.uuid4().hex[:8]}.test"


def settings_body(domain: str, sandbox: MailgunSandbox, **extra: Any) -> dict[str, Any]:
    return {
        "sending_domain": domain,
        "sender_name": "Admin Shop",
        "sender_address": f"news@{domain}",
        "reply_to": "support@admin-shop.test",
        "postal_address": "1-2-3 Chiyoda, Tokyo",
        "mailgun_base_url": sandbox.url,
        "mailgun_api_key": sandbox.api_key,
        "webhook_signing_key": sandbox.signing_key,
        **extra,
    }


@pytest.fixture(scope="module")
def configured(local_stack: LocalStack, project: CreatedProject, sandbox: MailgunSandbox, domain: str) -> str:
    """The project's settings saved through the API, its domain set up at the sandbox."""
    response = requests.put(
        f"{local_stack.api_url}/admin/v1/settings",
        json=settings_body(domain, sandbox),
        headers={"Authorization": f"Bearer {project.admin_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.text


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "write", "ak_unknown-key-0123456789"], ids=["missing", "write", "unknown"])
def test_without_an_admin_key_every_call_is_401(api: Api, project: CreatedProject, key: str | None) -> None:
    for method, path in (("GET", "/settings"), ("GET", "/templates"), ("GET", "/suppressions/export")):
        response = api(method, path, key=project.write_key if key == "write" else key)

        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "unauthorized"


def test_another_projects_key_cannot_read_this_projects_templates(
    api: Api, project: CreatedProject, other: CreatedProject
) -> None:
    created = api("POST", "/templates", json=TEMPLATE).json()

    assert api("GET", f"/templates/{created['id']}", key=other.admin_key).status_code == 404
    assert api("GET", "/templates", key=other.admin_key).json() == {"items": []}
    assert api("GET", f"/templates/{created['id']}").status_code == 200


# -- settings and the domain at Mailgun -----------------------------------------------------------


def test_settings_round_trip_with_secrets_only_in_ssm(
    local_stack: LocalStack, api: Api, project: CreatedProject, sandbox: MailgunSandbox, domain: str, configured: str
) -> None:
    saved = json.loads(configured)
    read = api("GET", "/settings")

    assert read.status_code == 200
    for text in (configured, read.text):
        assert sandbox.api_key not in text
        assert sandbox.signing_key not in text
    settings = read.json()
    assert settings["sending_domain"] == domain
    assert settings["mailgun_api_key_set"] is True
    assert settings["webhook_signing_key_set"] is True
    assert settings["webhook_url"] == f"{local_stack.api_url}/webhooks/mailgun"

    parameter = local_stack.client("ssm").get_parameter(
        Name=f"{os.environ['SECRETS_PREFIX']}/{project.project_id}", WithDecryption=True
    )["Parameter"]
    assert parameter["Type"] == "SecureString"
    stored_secrets = json.loads(parameter["Value"])
    assert stored_secrets["mailgun_api_key"] == sandbox.api_key
    assert stored_secrets["webhook_signing_key"] == sandbox.signing_key
    item = local_stack.client("dynamodb").get_item(
        TableName=local_stack.physical_names["ProjectsTable"],
        Key={"project_id": {"S": project.project_id}},
        ConsistentRead=True,
    )["Item"]
    assert sandbox.api_key not in json.dumps(item)
    assert sandbox.signing_key not in json.dumps(item)
    assert item["sending_domain"]["S"] == domain

    mailgun = saved["mailgun"]
    assert mailgun["created"] is True
    assert sorted(mailgun["webhooks"]["registered"]) == sorted(WEBHOOK_TYPES)
    assert any(record["record_type"] == "TXT" for record in mailgun["sending_dns_records"])
    assert any(record["record_type"] == "MX" for record in mailgun["receiving_dns_records"])


def test_the_sandbox_has_the_domain_and_tagmails_webhooks(
    local_stack: LocalStack, sandbox: MailgunSandbox, domain: str, configured: str
) -> None:
    assert sandbox.domain(domain)["domain"]["name"] == domain
    hooks = requests.get(
        f"{sandbox.url}/v3/domains/{domain}/webhooks", auth=("api", sandbox.api_key), timeout=10
    ).json()["webhooks"]
    ours = f"{local_stack.api_url}/webhooks/mailgun"
    assert {kind: hooks[kind]["urls"] for kind in WEBHOOK_TYPES} == {kind: [ours] for kind in WEBHOOK_TYPES}


def test_saving_again_keeps_customer_urls_and_changes_nothing_else(
    local_stack: LocalStack, api: Api, sandbox: MailgunSandbox, domain: str, configured: str
) -> None:
    theirs = "https://crm.admin-shop.test/mailgun"
    ours = f"{local_stack.api_url}/webhooks/mailgun"
    sandbox.set_webhook(domain, "clicked", [theirs])

    response = api("PUT", "/settings", json=settings_body(domain, sandbox))

    assert response.status_code == 200, response.text
    hooks = response.json()["mailgun"]["webhooks"]
    assert hooks["registered"] == ["clicked"]
    assert sorted(hooks["present"]) == sorted(set(WEBHOOK_TYPES) - {"clicked"})
    listed = requests.get(
        f"{sandbox.url}/v3/domains/{domain}/webhooks/clicked", auth=("api", sandbox.api_key), timeout=10
    ).json()
    assert listed["webhook"]["urls"] == [theirs, ours]


def test_the_domain_report_lists_mailguns_records(api: Api, domain: str, configured: str) -> None:
    response = api("GET", "/domain")

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["domain"] == domain
    assert report["state"] in ("unverified", "active")
    assert report["sending_dns_records"]


def test_a_key_mailgun_refuses_is_a_400_and_nothing_changes(
    api: Api, sandbox: MailgunSandbox, domain: str, configured: str
) -> None:
    body = settings_body(f"other-{domain}", sandbox, sender_address=f"news@other-{domain}")
    body["mailgun_api_key"] = "key-not-the-right-one"

    response = api("PUT", "/settings", json=body)

    assert response.status_code == 400, response.text
    assert response.json()["field"] == "mailgun_api_key"
    assert api("GET", "/settings").json()["sending_domain"] == domain


def test_a_sender_off_the_domain_is_refused_over_http(api: Api, sandbox: MailgunSandbox, domain: str) -> None:
    response = api("PUT", "/settings", json=settings_body(domain, sandbox, sender_address="news@admin-shop.test"))

    assert response.status_code == 400
    assert response.json()["field"] == "sender_address"
    assert "spoofed" in response.json()["message"]


@pytest.fixture
def dns_server_with_mx(domain: str) -> Iterator[None]:
    """A DNS server that gives the sending domain MX records, used by the admin function."""
    zone = f"{domain}. 300 IN MX 10 mxa.mailgun.org.\n"
    server = DNSServer(ZoneResolver(zone), address="127.0.0.1", port=0, tcp=False)
    server.start_thread()
    previous = os.environ.get("DNS_SERVER")
    os.environ["DNS_SERVER"] = f"127.0.0.1:{server.server.server_address[1]}"
    bootstrap.mx_lookup.cache_clear()
    bootstrap.settings_service.cache_clear()
    try:
        yield
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("DNS_SERVER", None)
        else:
            os.environ["DNS_SERVER"] = previous
        bootstrap.mx_lookup.cache_clear()
        bootstrap.settings_service.cache_clear()


def test_a_reply_to_on_a_domain_with_mx_is_refused_over_http(
    api: Api, sandbox: MailgunSandbox, domain: str, configured: str, dns_server_with_mx: None
) -> None:
    response = api("PUT", "/settings", json=settings_body(domain, sandbox, reply_to=f"support@{domain}"))

    assert response.status_code == 400, response.text
    assert response.json()["field"] == "reply_to"
    assert "mxa.mailgun.org" in response.json()["message"]


# -- templates, preview, test send ----------------------------------------------------------------


def test_templates_are_created_versioned_and_read(api: Api) -> None:
    created = api("POST", "/templates", json=TEMPLATE)
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]

    v2 = {"default_locale": "en", "contents": {"en": {"subject": "v2 {{ user.name }}", "html": "<p>v2</p>"}}}
    added = api("POST", f"/templates/{template_id}/versions", json={**v2, "based_on_version": 1})
    stale = api("POST", f"/templates/{template_id}/versions", json={**v2, "based_on_version": 1})

    assert added.status_code == 201
    assert added.json()["latest_version"] == 2
    assert stale.status_code == 409
    first = api("GET", f"/templates/{template_id}", params={"version": "1"}).json()
    assert first["version"]["contents"]["ja"]["subject"] == TEMPLATE["contents"]["ja"]["subject"]  # type: ignore[index]
    assert api("GET", f"/templates/{template_id}").json()["version"]["version"] == 2
    assert api("GET", f"/templates/{template_id}", params={"version": "9"}).status_code == 404


def test_concurrent_writers_never_overwrite_a_version(api: Api) -> None:
    template_id = api("POST", "/templates", json=TEMPLATE).json()["id"]
    body = {"default_locale": "en", "contents": {"en": {"subject": "racing", "html": "<p>r</p>"}}}

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: api("POST", f"/templates/{template_id}/versions", json=body), range(6)))

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}
    written = sorted(response.json()["latest_version"] for response in responses if response.status_code == 201)
    assert written == list(range(2, 2 + len(written)))  # each number written exactly once
    assert api("GET", f"/templates/{template_id}").json()["latest_version"] == 1 + len(written)


def test_a_template_syntax_error_names_part_and_line(api: Api) -> None:
    broken = {**TEMPLATE, "contents": {"ja": {"subject": "ok", "html": "<p>\n{% if %}\n</p>"}}}

    response = api("POST", "/templates", json=broken)

    assert response.status_code == 400
    assert response.json()["field"] == "contents.ja.html"
    assert response.json()["line"] == 2


def test_preview_renders_and_names_missing_variables(api: Api, configured: str) -> None:
    template_id = api("POST", "/templates", json=TEMPLATE).json()["id"]

    rendered = api("POST", "/preview", json={"template_id": template_id, "locale": "en", "user": {"name": "Ann"}})
    missing = api("POST", "/preview", json={"template_id": template_id, "user": {"nickname": "Ann"}})

    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["subject"] == "Welcome, Ann"
    assert rendered.json()["locale"] == "en"
    assert "/u/" in rendered.json()["text"]
    assert missing.status_code == 400
    assert missing.json()["variable"] == "user.name"


def open_sending(project_id: str, domain: str) -> None:
    """The sandbox's domain is in no DNS: record its SPF and DKIM as passing since long ago."""
    now = bootstrap.utc_now()
    readiness = DomainReadiness(domain, now, passing_since=now - timedelta(days=30))
    DynamoDomainReadiness(bootstrap.tables().projects).save(project_id, readiness, ReadinessReport(domain, now, ()))


def test_a_test_send_goes_through_the_send_path_to_mailgun(
    api: Api, project: CreatedProject, sandbox: MailgunSandbox, domain: str, configured: str
) -> None:
    sandbox.set_domain_state(domain, "active")
    open_sending(project.project_id, domain)
    template_id = api("POST", "/templates", json=TEMPLATE).json()["id"]

    response = api(
        "POST", "/test-send", json={"to": "qa@admin-shop.test", "template_id": template_id, "user": {"name": "QA"}}
    )

    assert response.status_code == 202, response.text
    send_key = response.json()["send_key"]
    message = wait_for(
        lambda: (
            (r := api("GET", f"/messages/{send_key}")).status_code == 200
            and r.json()["status"] != "sending"
            and r.json()
        ),
        "the test send's message record",
    )
    assert message["kind"] == "test"
    assert message["status"] in ("accepted", "delivered", "opened", "clicked")
    assert message["recipient"] == "qa@admin-shop.test"
    sent = wait_for(
        lambda: [m for m in sandbox.messages(domain) if m.get("subject") == "QAさん、ようこそ"], "the sandbox's copy"
    )
    assert sent


# -- suppressions ---------------------------------------------------------------------------------


def test_suppressions_crud_and_csv_round_trip(api: Api) -> None:
    added = api("POST", "/suppressions", json={"address": "Manual@Admin-Shop.test", "detail": "asked by phone"})
    imported = api(
        "POST",
        "/suppressions/import",
        data=b"address,reason\r\nbounced@admin-shop.test,bounce\r\nquiet@admin-shop.test,\r\n",
        headers={"content-type": "text/csv"},
    )
    page = api("GET", "/suppressions", params={"limit": "2"}).json()
    rest = api("GET", "/suppressions", params={"limit": "2", "after": page["next_after"]}).json()
    exported = api("GET", "/suppressions/export")

    assert added.status_code == 201, added.text
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"rows": 2, "added": 2}
    addresses = [item["address"] for item in page["items"] + rest["items"]]
    assert addresses == ["bounced@admin-shop.test", "manual@admin-shop.test", "quiet@admin-shop.test"]
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0] == "address,reason,created_at,detail"

    assert api("DELETE", "/suppressions/manual@admin-shop.test").status_code == 204
    assert api("DELETE", "/suppressions/manual@admin-shop.test").status_code == 404
    reimported = api("POST", "/suppressions/import", data=exported.text.encode(), headers={"content-type": "text/csv"})
    assert reimported.json() == {"rows": 3, "added": 1}  # only the removed one was missing
    assert api("GET", "/suppressions/export").text == exported.text


def test_a_bad_csv_is_refused_with_line_numbers_and_writes_nothing(api: Api, other: CreatedProject) -> None:
    response = api(
        "POST",
        "/suppressions/import",
        key=other.admin_key,
        data=b"address\nfine@example.com\nbroken\n",
        headers={"content-type": "text/csv"},
    )

    assert response.status_code == 400
    assert [problem["line"] for problem in response.json()["problems"]] == [3]
    assert api("GET", "/suppressions", key=other.admin_key).json()["items"] == []


# -- the OpenAPI document -------------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_lists_every_route(api: Api, local_stack: LocalStack) -> None:
    from openapi_spec_validator import validate

    response = api("GET", "/openapi.json", key=None)

    assert response.status_code == 200
    document = response.json()
    validate(document)
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    expected = {
        ("GET", "/admin/v1/settings"),
        ("PUT", "/admin/v1/settings"),
        ("GET", "/admin/v1/domain"),
        ("POST", "/admin/v1/domain/check"),
        ("GET", "/admin/v1/templates"),
        ("POST", "/admin/v1/templates"),
        ("GET", "/admin/v1/templates/{template_id}"),
        ("POST", "/admin/v1/templates/{template_id}/versions"),
        ("POST", "/admin/v1/preview"),
        ("POST", "/admin/v1/test-send"),
        ("GET", "/admin/v1/suppressions"),
        ("POST", "/admin/v1/suppressions"),
        ("DELETE", "/admin/v1/suppressions/{address}"),
        ("POST", "/admin/v1/suppressions/import"),
        ("GET", "/admin/v1/suppressions/export"),
        ("GET", "/admin/v1/campaigns/{campaign_id}/stats"),
        ("GET", "/admin/v1/campaigns"),
        ("POST", "/admin/v1/campaigns"),
        ("GET", "/admin/v1/campaigns/{campaign_id}"),
        ("PATCH", "/admin/v1/campaigns/{campaign_id}"),
        ("POST", "/admin/v1/campaigns/{campaign_id}/activate"),
        ("POST", "/admin/v1/campaigns/{campaign_id}/pause"),
        ("POST", "/admin/v1/campaigns/{campaign_id}/resume"),
        ("POST", "/admin/v1/campaigns/{campaign_id}/archive"),
        ("GET", "/admin/v1/campaigns/{campaign_id}/results"),
        ("GET", "/admin/v1/messages/{send_key}"),
        ("GET", "/admin/v1/users/{user_id}"),
        ("GET", "/admin/v1/usage"),
    }
    assert operations == expected
