"""The demo project every local stack gets, created through tagmail's own composition root.

With the Mailgun sandbox running, the demo project sends through it: its settings name the
sandbox's demo domain and API, its secrets hold the sandbox's keys, and the sandbox posts its
webhooks back to the local API — so a mail sent locally goes the whole way and back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
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
    _add_demo_template(created.project_id)
    return DemoProject(id=created.project_id, write_key=created.write_key, admin_key=created.admin_key)


def _send_through_sandbox(project_id: str, sandbox: MailgunSandbox, api_url: str) -> None:
    from local.mailgun_sandbox.sandbox import DEMO_DOMAIN
    from tagmail import bootstrap
    from tagmail.adapters.dynamodb import DynamoProjects
    from tagmail.adapters.mailgun import WEBHOOK_TYPES
    from tagmail.domain.settings import MailSettings

    projects = DynamoProjects(bootstrap.tables().projects)
    project = projects.get(project_id)
    assert project is not None
    settings = MailSettings(
        sending_domain=DEMO_DOMAIN,
        sender_name="Demo Shop",
        sender_address=f"news@{DEMO_DOMAIN}",
        reply_to="support@demo-shop.example",
        notification_address="ops@demo-shop.example",
        mailgun_base_url=sandbox.url,
        postal_address="1-2-3 Demo-cho, Chiyoda-ku, Tokyo",
    )
    projects.update(replace(project, settings=settings))
    secrets = bootstrap.secret_store()
    current = secrets.get(project_id)
    assert current is not None
    secrets.put(project_id, replace(current, mailgun_api_key=sandbox.api_key, webhook_signing_key=sandbox.signing_key))
    for kind in WEBHOOK_TYPES:
        sandbox.set_webhook(DEMO_DOMAIN, kind, [f"{api_url}/webhooks/mailgun"])


def _add_demo_template(project_id: str) -> None:
    from tagmail import bootstrap
    from tagmail.domain.templates import MailContent, Template, TemplateVersion

    now = datetime.now(UTC)
    template = Template(DEMO_TEMPLATE_ID, project_id, "Welcome", 1, now, now)
    contents = {locale: MailContent(subject, html) for locale, (subject, html) in DEMO_TEMPLATE_HTML.items()}
    bootstrap.template_store().add_version(project_id, template, TemplateVersion(template.id, 1, now, contents, "ja"))
