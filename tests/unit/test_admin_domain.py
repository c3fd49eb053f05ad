"""GET /admin/v1/domain, POST /admin/v1/domain/check and `tagmail domain check`: one report, with
each check, when sending opens and the records to add."""

from __future__ import annotations

import json

import pytest

from tagmail import cli
from tests.unit.test_admin_api import DOMAIN, Admin, body

# FakeMailgunDomains creates domains with these records (DKIM at the selector "mx").
PUBLISHED = {
    (DOMAIN, "TXT"): ("v=spf1 include:mailgun.org ~all",),
    ("mailgun.org", "TXT"): ("v=spf1 ip4:198.61.254.0/23 ~all",),
    (f"mx._domainkey.{DOMAIN}", "TXT"): ("k=rsa; p=MIGf",),
    (f"email.{DOMAIN}", "CNAME"): ("mailgun.org",),
    (DOMAIN, "MX"): ("mxa.mailgun.org", "mxb.mailgun.org"),
    ("_dmarc.shop.example", "TXT"): ("v=DMARC1; p=reject",),
}


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> Admin:
    admin = Admin(monkeypatch)
    admin.settings_ready()
    monkeypatch.setenv("PROJECTS_TABLE", "projects")
    monkeypatch.setenv("SECRETS_PREFIX", "/tagmail/test/projects")
    return admin


def test_the_report_of_a_domain_without_records_names_every_record_to_add(admin: Admin) -> None:
    response = admin.call("GET", "/domain")

    assert response["statusCode"] == 200, response["body"]
    report = body(response)
    assert report["domain"] == DOMAIN
    assert report["sending_open"] is False
    assert report["closed_reason"] == "domain_not_ready:dkim+spf"
    assert report["sending_opens_at"] is None
    statuses = {check["name"]: (check["status"], check["required"]) for check in report["checks"]}
    assert statuses["spf"] == ("fail", True)
    assert statuses["dkim"] == ("fail", True)
    assert statuses["mx"] == ("warn", False)
    assert {(r["record_type"], r["name"]) for r in report["records_to_add"]} >= {
        ("TXT", DOMAIN),
        ("TXT", f"mx._domainkey.{DOMAIN}"),
        ("MX", DOMAIN),
    }
    dkim = next(check for check in report["checks"] if check["name"] == "dkim")
    assert dkim["dns_error"] == "nxdomain"


def test_the_check_runs_again_on_demand_and_says_when_sending_opens(admin: Admin) -> None:
    admin.call("GET", "/domain")
    admin.dns.records.update(PUBLISHED)

    stored = body(admin.call("GET", "/domain"))
    checked = body(admin.call("POST", "/domain/check"))

    assert stored["closed_reason"] == "domain_not_ready:dkim+spf"  # the last check, not a new one
    assert [check["status"] for check in checked["checks"]] == ["pass"] * 5
    assert checked["closed_reason"] == "domain_not_ready:waiting"
    assert checked["sending_opens_at"] == "2026-12-03T09:00:00Z"
    assert checked["records_to_add"] == []


def test_the_command_line_prints_the_report_the_api_shows(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    admin.dns.records.update(PUBLISHED)
    del admin.dns.records[(f"mx._domainkey.{DOMAIN}", "TXT")]

    code = cli.main(["domain", "check", "--project", admin.project.project_id, "--json"])
    printed = json.loads(capsys.readouterr().out)
    shown = body(admin.call("GET", "/domain"))

    assert code == 1  # sending is not open
    assert printed == shown


def test_the_command_line_report_for_people_names_the_records_to_add(
    admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.dns.records.update(PUBLISHED)
    del admin.dns.records[(f"mx._domainkey.{DOMAIN}", "TXT")]

    cli.main(["domain", "check", "--project", admin.project.project_id])
    text = capsys.readouterr().out

    assert f"Domain {DOMAIN} (Mailgun: unverified)" in text
    assert "Sending: closed (domain_not_ready:dkim)" in text
    assert "PASS  SPF" in text
    assert "FAIL  DKIM" in text
    assert "DNS error: nxdomain" in text
    assert f'mx._domainkey.{DOMAIN}. 3600 IN TXT "k=rsa; p=MIGf"' in text


def test_the_command_line_reports_a_project_without_a_domain(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["domain", "check", "--project", admin.other.project_id])

    assert code == 2
    assert "no sending domain" in capsys.readouterr().err
