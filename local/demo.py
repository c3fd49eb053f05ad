"""The demo project every local stack gets, created through tagmail's own composition root.

With the Mailgun sandbox running, the demo project sends through it: its settings name the
sandbox's demo domain and API, its secrets hold the sandbox's keys, and the sandbox posts its
webhooks back to the local API — so a mail sent locally goes the whole way and back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.mailgun_sandbox import MailgunSandbox

DEMO_TEMPLATE_ID = "welcome"
DEMO_TEMPLATE_HTML = {
    "ja": (
        "{{ user.first_name | default('お客様') }}、ようこそ",
        "<html><head><style>h1{color:#c0392b}</style></head><body>"
        "<h1>{{ user.first_name | default('お客様') }}様</h1>"
        '<p>ご登録ありがとうございます。<a href="https://demo-shop.example/">ショップを見る</a></p>'
        "</body></html>",
    ),
    "en": (
        "Welcome, {{ user.first_name | default('there') }}",
        "<html><head><style>h1{color:#c0392b}</style></head><body>"
        "<h1>Hello {{ user.first_name | default('there') }}</h1>"
        '<p>Thanks for signing up. <a href="https://demo-shop.example/">Visit the shop</a></p>'
        "</body></html>",
    ),
}


@dataclass(frozen=True)
class DemoProject:
    id: str
    write_key: str
    admin_key: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def create_demo_project(
    name: str = "demo", sandbox: MailgunSandbox | None = None, api_url: str | None = None
) -> DemoProject:
    """Create a project through tagmail.bootstrap.

    Call only after LocalStack.start(): bootstrap caches its clients, so the endpoint and table
    names must already be in os.environ and layers/core on sys.path when it is first imported.
    """
    from tagmail import bootstrap

    created = bootstrap.project_admin().create_project(name=name)
    if sandbox is not None and api_url is not None:
        _send_through_sandbox(created.project_id, sandbox, api_url)
        _open_sending(created.project_id)
    _add_demo_template(created.project_id)
    return DemoProject(id=created.project_id, write_key=created.write_key, admin_key=created.admin_key)


def _send_through_sandbox(project_id: str, sandbox: MailgunSandbox, api_url: str) -> None:
    """Configure the demo project as an admin would (PUT /admin/v1/settings): the same validation
    and the same Mailgun setup, which registers the local API's webhook URL at the sandbox."""
    from local.mailgun_sandbox.sandbox import DEMO_DOMAIN
    from tagmail import bootstrap
    from tagmail.domain.settings import MailSettings
    from tagmail.services.settings import SettingsChange

    del api_url  # the settings service names tagmail's webhook URL from PUBLIC_BASE_URL
    settings = MailSettings(
        sending_domain=DEMO_DOMAIN,
        sender_name="Demo Shop",
        sender_address=f"news@{DEMO_DOMAIN}",
        reply_to="support@demo-shop.example",
        notification_address="ops@demo-shop.example",
        mailgun_base_url=sandbox.url,
        postal_address="1-2-3 Demo-cho, Chiyoda-ku, Tokyo",
    )
    bootstrap.settings_service().update(
        project_id,
        SettingsChange(settings, mailgun_api_key=sandbox.api_key, webhook_signing_key=sandbox.signing_key),
    )


def _open_sending(project_id: str) -> None:
    """The sandbox's demo domain is in no DNS, so the domain check cannot see its records: record
    them as passing since before the waiting time, so the local stack sends at once. A domain check
    that reaches a DNS server (POST /admin/v1/domain/check) reports them missing and closes sending."""
    from local.mailgun_sandbox.sandbox import DEMO_DOMAIN
    from tagmail import bootstrap
    from tagmail.adapters.domain_readiness_store import DynamoDomainReadiness
    from tagmail.domain.dns_readiness import DomainReadiness, ReadinessReport

    now = datetime.now(UTC)
    readiness = DomainReadiness(DEMO_DOMAIN, now, passing_since=now - timedelta(days=30))
    store = DynamoDomainReadiness(bootstrap.tables().projects)
    store.save(project_id, readiness, ReadinessReport(DEMO_DOMAIN, now, ()))


def _add_demo_template(project_id: str) -> None:
    from tagmail import bootstrap
    from tagmail.domain.templates import MailContent, Template, TemplateVersion

    now = datetime.now(UTC)
    template = Template(DEMO_TEMPLATE_ID, project_id, "Welcome", 1, now, now)
    contents = {locale: MailContent(subject, html) for locale, (subject, html) in DEMO_TEMPLATE_HTML.items()}
    bootstrap.template_store().add_version(project_id, template, TemplateVersion(template.id, 1, now, contents, "ja"))
