"""`tagmail project settings`: the operator's way to the same settings rules as the admin API."""

from __future__ import annotations

import io
import json

import pytest

from tagmail import bootstrap, cli
from tagmail.services.projects import ProjectAdmin
from tagmail.services.settings import SettingsService
from tests.unit.fakes import FakeApiKeys, FakeClock, FakeMailgunDomains, FakeMxLookup, FakeProjects, FakeSecrets

DOMAIN = "mail.shop.example"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[str, FakeProjects, FakeSecrets, FakeMailgunDomains]:
    projects, secrets, mailgun = FakeProjects(), FakeSecrets(), FakeMailgunDomains()
    project_id = ProjectAdmin(projects, FakeApiKeys(), secrets, FakeClock()).create_project("shop").project_id
    service = SettingsService(
        projects=projects,
        secrets=secrets,
        mx_lookup=FakeMxLookup(),
        mailgun_for=mailgun,
        public_base_url="https://tagmail.shop.example",
    )
    monkeypatch.setattr(bootstrap, "settings_service", lambda: service)
    monkeypatch.setenv("PROJECTS_TABLE", "projects")
    monkeypatch.setenv("SECRETS_PREFIX", "/tagmail/test/projects")
    return project_id, projects, secrets, mailgun


def test_flags_change_only_what_they_name_and_secrets_come_from_stdin(
    world: tuple[str, FakeProjects, FakeSecrets, FakeMailgunDomains],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project_id, projects, secrets, mailgun = world
    monkeypatch.setattr("sys.stdin", io.StringIO("key-from-stdin\nsigning-from-stdin\n"))

    code = cli.main(
        [
            "project", "settings", "--project", project_id, "--domain", DOMAIN, "--sender-address", f"news@{DOMAIN}",
            "--click-tracking", "off", "--mailgun-api-key-stdin", "--webhook-signing-key-stdin",
        ]
    )  # fmt: skip

    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sending_domain"] == DOMAIN
    assert shown["disable_click_tracking"] is True
    assert shown["mailgun_api_key_set"] is True
    assert "key-from-stdin" not in json.dumps(shown)
    assert secrets.get(project_id).mailgun_api_key == "key-from-stdin"  # type: ignore[union-attr]
    assert secrets.get(project_id).webhook_signing_key == "signing-from-stdin"  # type: ignore[union-attr]
    assert ("create_domain", DOMAIN) in mailgun.calls

    assert cli.main(["project", "settings", "--project", project_id, "--sender-name", "Shop"]) == 0
    stored = projects.get(project_id).settings  # type: ignore[union-attr]
    assert (stored.sender_name, stored.sending_domain, stored.disable_click_tracking) == ("Shop", DOMAIN, True)


def test_a_refused_setting_names_the_field_and_exits_2(
    world: tuple[str, FakeProjects, FakeSecrets, FakeMailgunDomains], capsys: pytest.CaptureFixture[str]
) -> None:
    project_id = world[0]

    code = cli.main(
        ["project", "settings", "--project", project_id, "--domain", DOMAIN, "--sender-address", "x@y.example"]
    )

    assert code == 2
    assert capsys.readouterr().err.startswith("tagmail: sender_address: ")
