"""The admin API handler over fakes: authentication, the project boundary, error shapes, the
OpenAPI document, and each resource's happy path as API Gateway events."""

from __future__ import annotations

import base64
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tagmail import bootstrap
from tagmail.adapters.rendering import JinjaRenderer
from tagmail.domain.projects import KeyKind, hash_key
from tagmail.domain.sending import MessageRecord, MessageStatus, SendKind
from tagmail.domain.stats import Counter
from tagmail.domain.users import UserProfile
from tagmail.services.domain_readiness import DomainReadinessService
from tagmail.services.keys import KeyResolver
from tagmail.services.notices import Notifier
from tagmail.services.preview import PreviewService, TestSendService
from tagmail.services.projects import CreatedProject, ProjectAdmin
from tagmail.services.quota import UsageReports
from tagmail.services.reports import Reports
from tagmail.services.settings import SettingsService
from tagmail.services.suppressions import SuppressionAdmin
from tagmail.services.templates import TemplateAdmin
from tests.unit.fakes import (
    FakeApiKeys,
    FakeClock,
    FakeDns,
    FakeDomainReadinessStore,
    FakeIdempotency,
    FakeMailgunDomains,
    FakeMessages,
    FakeMxLookup,
    FakeProjects,
    FakeSecrets,
    FakeSendQueue,
    FakeStats,
    FakeSuppressions,
    FakeTemplateStore,
    FakeUsage,
    FakeUsers,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "admin"
BASE = "https://tagmail.shop.example"
DOMAIN = "mail.shop.example"

sys.path.insert(0, str(ROOT / "functions" / "admin"))
from app import lambda_handler  # noqa: E402 - the handler lives beside its function's files

Call = Callable[..., dict[str, Any]]


class Admin:
    """Every admin service wired to fakes, installed in place of the composition root's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = FakeClock()
        self.keys = FakeApiKeys()
        self.projects = FakeProjects()
        self.secrets = FakeSecrets()
        self.users = FakeUsers()
        self.templates = FakeTemplateStore()
        self.suppressions = FakeSuppressions()
        self.messages = FakeMessages()
        self.stats = FakeStats()
        self.queue = FakeSendQueue()
        self.mailgun = FakeMailgunDomains()
        self.mx = FakeMxLookup()
        self.dns = FakeDns()
        self.usage = FakeUsage()
        renderer = JinjaRenderer()
        admin = ProjectAdmin(self.projects, self.keys, self.secrets, self.clock)
        self.project: CreatedProject = admin.create_project("shop")
        self.other: CreatedProject = admin.create_project("another shop")
        previews = PreviewService(
            projects=self.projects,
            secrets=self.secrets,
            users=self.users,
            templates=self.templates,
            renderer=renderer,
            checker=renderer,
            public_base_url=BASE,
        )
        built: dict[str, object] = {
            "key_resolver": KeyResolver(self.keys, self.clock),
            "settings_service": SettingsService(
                projects=self.projects,
                secrets=self.secrets,
                mx_lookup=self.mx,
                mailgun_for=self.mailgun,
                public_base_url=BASE,
            ),
            "template_admin": TemplateAdmin(templates=self.templates, checker=renderer, clock=self.clock),
            "preview_service": previews,
            "test_send_service": TestSendService(previews=previews, secrets=self.secrets, queue=self.queue),
            "suppression_admin": SuppressionAdmin(suppressions=self.suppressions, clock=self.clock),
            "reports": Reports(stats=self.stats, messages=self.messages, users=self.users),
            "domain_readiness_service": DomainReadinessService(
                projects=self.projects,
                secrets=self.secrets,
                mailgun_for=self.mailgun,
                dns=self.dns,
                store=FakeDomainReadinessStore(self.projects),
                notifier=Notifier(projects=self.projects, claims=FakeIdempotency(), queue=self.queue, clock=self.clock),
                clock=self.clock,
            ),
            "usage_reports": UsageReports(projects=self.projects, usage=self.usage, clock=self.clock),
        }
        for name, service in built.items():
            monkeypatch.setattr(bootstrap, name, lambda service=service: service)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "admin",
        query: dict[str, str] | None = None,
        raw: str | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        event = copy.deepcopy(json.loads((EVENTS / "get_settings.json").read_text()))
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/admin/v1{path}"
        event["requestContext"]["http"]["method"] = method
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        event["headers"].pop("authorization")
        if key is not None:
            event["headers"]["authorization"] = f"Bearer {self.project.admin_key if key == 'admin' else key}"
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        if body is not None or raw is not None:
            event["body"] = raw if raw is not None else json.dumps(body)
            event["headers"]["content-type"] = content_type
        response: dict[str, Any] = lambda_handler(event, None)
        return response

    def settings_ready(self) -> None:
        response = self.call(
            "PUT",
            "/settings",
            {"sending_domain": DOMAIN, "sender_address": f"news@{DOMAIN}", "mailgun_api_key": "key-123"},
        )
        assert response["statusCode"] == 200, response["body"]


def body(response: dict[str, Any]) -> Any:
    text = response["body"]
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    return json.loads(text)


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> Admin:
    return Admin(monkeypatch)


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [None, "", "ak_made-up", "write"],
    ids=["missing", "empty", "unknown", "write-key"],
)
def test_a_call_without_a_valid_admin_key_is_unauthorized(admin: Admin, key: str | None) -> None:
    response = admin.call("GET", "/settings", key=admin.project.write_key if key == "write" else key)

    assert response["statusCode"] == 401
    assert body(response)["code"] == "unauthorized"
    assert response["headers"]["www-authenticate"].startswith("Bearer")


def test_basic_auth_is_not_an_admin_key(admin: Admin) -> None:
    response = admin.call("GET", "/settings", key=None)
    assert response["statusCode"] == 401


def test_the_project_comes_from_the_key(admin: Admin) -> None:
    created = body(
        admin.call(
            "POST",
            "/templates",
            {"name": "welcome", "default_locale": "en", "contents": {"en": {"subject": "Hi", "html": "<p>Hi</p>"}}},
        )
    )

    theirs = admin.call("GET", f"/templates/{created['id']}", key=admin.other.admin_key)
    their_list = admin.call("GET", "/templates", key=admin.other.admin_key)

    assert theirs["statusCode"] == 404
    assert body(their_list) == {"items": []}
    assert admin.keys.get(hash_key(admin.other.admin_key)).kind is KeyKind.ADMIN  # type: ignore[union-attr]


def test_the_openapi_document_needs_no_key_and_lists_every_route(admin: Admin) -> None:
    from openapi_spec_validator import validate

    response = admin.call("GET", "/openapi.json", key=None)

    assert response["statusCode"] == 200
    document = body(response)
    validate(document)
    routes = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert routes >= {
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
        ("GET", "/admin/v1/messages/{send_key}"),
        ("GET", "/admin/v1/users/{user_id}"),
    }
    assert document["components"]["securitySchemes"]["adminKey"]["scheme"] == "bearer"
    properties = document["components"]["schemas"]["SettingsIn"]["properties"]
    assert properties["mailgun_api_key"]["writeOnly"] is True


def test_an_unknown_route_is_a_json_404(admin: Admin) -> None:
    response = admin.call("GET", "/nothing-here")

    assert response["statusCode"] == 404
    assert body(response)["code"] == "not_found"


# -- settings -------------------------------------------------------------------------------------


def test_settings_round_trip_without_echoing_secrets(admin: Admin) -> None:
    secret = "key-abcdef0123456789"
    saved = admin.call(
        "PUT",
        "/settings",
        {
            "sending_domain": DOMAIN,
            "sender_name": "Shop",
            "sender_address": f"news@{DOMAIN}",
            "reply_to": "support@shop.example",
            "mailgun_api_key": secret,
            "webhook_signing_key": "sign-0123",
            "timezone": "Asia/Tokyo",
        },
    )
    read = admin.call("GET", "/settings")

    assert saved["statusCode"] == 200, saved["body"]
    assert secret not in saved["body"]
    assert "sign-0123" not in saved["body"]
    assert secret not in read["body"]
    settings = body(read)
    assert settings["sender_address"] == f"news@{DOMAIN}"
    assert settings["mailgun_api_key_set"] is True
    assert settings["webhook_signing_key_set"] is True
    assert "mailgun_api_key" not in settings
    assert settings["webhook_url"] == f"{BASE}/webhooks/mailgun"
    mailgun = body(saved)["mailgun"]
    assert mailgun["created"] is True
    assert len(mailgun["webhooks"]["registered"]) == 8
    assert mailgun["receiving_dns_records"][0]["record_type"] == "MX"
    assert admin.secrets.get(admin.project.project_id).mailgun_api_key == secret  # type: ignore[union-attr]


def test_a_refused_setting_is_a_400_naming_the_field(admin: Admin) -> None:
    response = admin.call("PUT", "/settings", {"sending_domain": DOMAIN, "sender_address": "news@elsewhere.example"})

    assert response["statusCode"] == 400
    error = body(response)
    assert error["field"] == "sender_address"
    assert "spoofed" in error["message"]


def test_a_misspelt_field_is_a_400_naming_it(admin: Admin) -> None:
    response = admin.call("PUT", "/settings", {"sender_adress": "news@mail.shop.example"})

    assert response["statusCode"] == 400
    assert body(response)["field"] == "sender_adress"


def test_a_wrongly_typed_secret_is_refused_without_echoing_it(admin: Admin) -> None:
    response = admin.call("PUT", "/settings", {"mailgun_api_key": ["key-very-secret"]})

    assert response["statusCode"] == 400
    assert "key-very-secret" not in response["body"]
    assert body(response)["field"] == "mailgun_api_key"


def test_mailgun_down_during_setup_is_a_502(admin: Admin) -> None:
    from tagmail.adapters.mailgun import MailgunUnavailable

    admin.mailgun.failure = MailgunUnavailable("Mailgun error 503: Service Unavailable", 503)

    response = admin.call("PUT", "/settings", {"sending_domain": DOMAIN, "mailgun_api_key": "key-1"})

    assert response["statusCode"] == 502
    assert "Service Unavailable" in body(response)["message"]


def test_the_domain_report_lists_mailguns_records(admin: Admin) -> None:
    admin.settings_ready()

    report = body(admin.call("GET", "/domain"))

    assert report["domain"] == DOMAIN
    assert {record["record_type"] for record in report["sending_dns_records"]} == {"TXT", "CNAME"}


# -- templates, preview, test send ----------------------------------------------------------------

TEMPLATE = {
    "name": "cart reminder",
    "default_locale": "ja",
    "contents": {
        "ja": {"subject": "{{ user.name }}様", "html": "<p>{{ event.properties.item }}</p>"},
        "en": {"subject": "Dear {{ user.name }}", "html": "<p>{{ event.properties.item }}</p>", "text": "x"},
    },
}


def test_templates_are_created_versioned_and_read(admin: Admin) -> None:
    created = admin.call("POST", "/templates", TEMPLATE)
    template_id = body(created)["id"]
    added = admin.call(
        "POST",
        f"/templates/{template_id}/versions",
        {"default_locale": "en", "contents": {"en": {"subject": "v2", "html": "<p>v2</p>"}}, "based_on_version": 1},
    )

    assert created["statusCode"] == 201
    assert added["statusCode"] == 201
    latest = body(admin.call("GET", f"/templates/{template_id}"))
    first = body(admin.call("GET", f"/templates/{template_id}", query={"version": "1"}))
    assert latest["latest_version"] == 2
    assert latest["version"]["version"] == 2
    assert first["version"]["contents"]["ja"]["subject"] == "{{ user.name }}様"
    assert [t["name"] for t in body(admin.call("GET", "/templates"))["items"]] == ["cart reminder"]


def test_a_stale_version_edit_is_a_409(admin: Admin) -> None:
    template_id = body(admin.call("POST", "/templates", TEMPLATE))["id"]
    v2 = {"default_locale": "en", "contents": {"en": {"subject": "v2", "html": "<p>v2</p>"}}, "based_on_version": 1}
    assert admin.call("POST", f"/templates/{template_id}/versions", v2)["statusCode"] == 201

    again = admin.call("POST", f"/templates/{template_id}/versions", v2)

    assert again["statusCode"] == 409
    assert body(again)["code"] == "conflict"


def test_a_template_syntax_error_is_a_400_naming_part_and_line(admin: Admin) -> None:
    broken = copy.deepcopy(TEMPLATE)
    broken["contents"]["en"]["html"] = "<p>\n{% if %}</p>"  # type: ignore[index]

    response = admin.call("POST", "/templates", broken)

    assert response["statusCode"] == 400
    error = body(response)
    assert error["field"] == "contents.en.html"
    assert error["line"] == 2


def test_a_preview_renders_sample_data_with_the_footer(admin: Admin) -> None:
    admin.settings_ready()
    response = admin.call(
        "POST",
        "/preview",
        {
            "content": {"subject": "Hi {{ user.first_name }}", "html": "<p>{{ event.properties.item }}</p>"},
            "user": {"first_name": "Hanako"},
            "event": {"properties": {"item": "green tea"}},
        },
    )

    assert response["statusCode"] == 200, response["body"]
    preview = body(response)
    assert preview["subject"] == "Hi Hanako"
    assert "green tea" in preview["html"]
    assert f"{BASE}/u/" in preview["html"]
    assert f"{BASE}/u/" in preview["text"]


def test_a_preview_missing_a_variable_is_a_400_naming_it(admin: Admin) -> None:
    template_id = body(admin.call("POST", "/templates", TEMPLATE))["id"]

    response = admin.call("POST", "/preview", {"template_id": template_id, "user": {"name": "Hanako"}})

    assert response["statusCode"] == 400
    error = body(response)
    assert error["variable"] == "event.properties.item"
    assert error["field"] == "contents.ja.html"
    assert "event.properties.item" in error["message"]


def test_a_test_send_is_queued_on_the_send_path(admin: Admin) -> None:
    admin.settings_ready()
    template_id = body(admin.call("POST", "/templates", TEMPLATE))["id"]

    response = admin.call(
        "POST",
        "/test-send",
        {
            "to": "qa@shop.example",
            "template_id": template_id,
            "locale": "en",
            "user": {"name": "QA"},
            "event": {"properties": {"item": "tea"}},
        },
    )

    assert response["statusCode"] == 202, response["body"]
    [request] = admin.queue.requests
    assert request.kind is SendKind.TEST
    assert request.to == "qa@shop.example"
    assert request.template_version == 1
    assert request.variables == {"user": {"name": "QA"}}
    assert body(response)["send_key"] == request.send_key


def test_a_test_send_to_a_malformed_address_is_a_400(admin: Admin) -> None:
    admin.settings_ready()

    response = admin.call("POST", "/test-send", {"to": "qa@", "template_id": "t1"})

    assert response["statusCode"] == 400
    assert body(response)["field"] == "to"
    assert admin.queue.requests == []


# -- suppressions ---------------------------------------------------------------------------------


def test_suppressions_are_added_listed_and_removed(admin: Admin) -> None:
    added = admin.call("POST", "/suppressions", {"address": "Someone+tag@Example.com"})
    again = admin.call("POST", "/suppressions", {"address": "someone+tag@example.com"})
    listed = body(admin.call("GET", "/suppressions", query={"limit": "10"}))
    removed = admin.call("DELETE", "/suppressions/someone%2Btag%40example.com")
    gone = admin.call("DELETE", "/suppressions/someone+tag@example.com")

    assert added["statusCode"] == 201
    assert body(added)["reason"] == "manual"
    assert again["statusCode"] == 200
    assert [item["address"] for item in listed["items"]] == ["someone+tag@example.com"]
    assert listed["next_after"] is None
    assert removed["statusCode"] == 204
    assert gone["statusCode"] == 404


def test_suppression_pages_follow_the_after_cursor(admin: Admin) -> None:
    for n in range(5):
        admin.call("POST", "/suppressions", {"address": f"user{n}@example.com"})

    first = body(admin.call("GET", "/suppressions", query={"limit": "2"}))
    second = body(admin.call("GET", "/suppressions", query={"limit": "2", "after": first["next_after"]}))

    assert [i["address"] for i in first["items"]] == ["user0@example.com", "user1@example.com"]
    assert [i["address"] for i in second["items"]] == ["user2@example.com", "user3@example.com"]
    assert admin.call("GET", "/suppressions", query={"limit": "5000"})["statusCode"] == 400


def test_csv_import_and_export_over_the_api(admin: Admin) -> None:
    imported = admin.call(
        "POST",
        "/suppressions/import",
        raw="address,reason\r\nbounced@example.com,bounce\r\nasked@example.com,\r\n",
        content_type="text/csv",
    )
    exported = admin.call("GET", "/suppressions/export")

    assert imported["statusCode"] == 200, imported["body"]
    assert body(imported) == {"rows": 2, "added": 2}
    assert exported["statusCode"] == 200
    assert exported["headers"]["Content-Type"].startswith("text/csv")
    text = exported["body"] if not exported.get("isBase64Encoded") else base64.b64decode(exported["body"]).decode()
    assert text.splitlines()[0] == "address,reason,created_at,detail"
    assert "bounced@example.com,bounce," in text


def test_a_bad_csv_is_refused_with_its_line_numbers(admin: Admin) -> None:
    response = admin.call(
        "POST",
        "/suppressions/import",
        raw="address\nok@example.com\nnot-an-address\nalso@bad@example.com\n",
        content_type="text/csv",
    )

    assert response["statusCode"] == 400
    error = body(response)
    assert [problem["line"] for problem in error["problems"]] == [3, 4]
    assert admin.suppressions.items == {}


# -- reports --------------------------------------------------------------------------------------


def test_campaign_stats_message_history_and_users(admin: Admin) -> None:
    project_id = admin.project.project_id
    admin.stats.add(project_id, "spring", "A", {Counter.ACCEPTED: 3, Counter.OPENED: 1})
    admin.stats.add(project_id, "spring", "B", {Counter.ACCEPTED: 2})
    record = MessageRecord(
        project_id=project_id,
        send_key="k1",
        kind=SendKind.MARKETING,
        status=MessageStatus.SENDING,
        campaign_id="spring",
        variant="A",
        created_at=admin.clock(),
        updated_at=admin.clock(),
        user_key="u:42",
    ).with_status(MessageStatus.ACCEPTED, admin.clock())
    admin.messages.reserve(record)
    admin.users.save(UserProfile.new(project_id, "u:42", admin.clock()), None)

    stats = body(admin.call("GET", "/campaigns/spring/stats"))
    message = body(admin.call("GET", "/messages/k1"))
    user = body(admin.call("GET", "/users/42"))

    assert stats["variants"]["A"]["accepted"] == 3
    assert stats["totals"]["accepted"] == 5
    assert message["status"] == "accepted"
    assert [change["status"] for change in message["history"]] == ["accepted"]
    assert message["user_id"] == "42"
    assert user["user_id"] == "42"
    assert admin.call("GET", "/messages/k1", key=admin.other.admin_key)["statusCode"] == 404


@pytest.mark.parametrize("name", sorted(path.name for path in EVENTS.glob("*.json")))
def test_every_sample_event_gets_a_deliberate_answer(admin: Admin, name: str) -> None:
    event = json.loads((EVENTS / name).read_text())
    if "authorization" in event["headers"]:
        event["headers"]["authorization"] = f"Bearer {admin.project.admin_key}"

    response = lambda_handler(event, None)

    assert response["statusCode"] < 500, response["body"]
    assert response["headers"]["Content-Type"].startswith("application/json")
