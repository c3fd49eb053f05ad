"""The domain readiness service over fakes: it keeps since when SPF and DKIM pass, the send path
opens after the waiting time (a fake clock), a broken record closes it and is notified once, and a
DNS outage changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tagmail.adapters.mailgun import MailgunUnavailable
from tagmail.adapters.rendering import JinjaRenderer
from tagmail.domain.dns_readiness import CheckName, CheckStatus, DnsError
from tagmail.domain.notices import NoticeKind, notice_template
from tagmail.domain.projects import Project
from tagmail.domain.sending import SendKind
from tagmail.domain.settings import ProjectSecrets
from tagmail.errors import Conflict
from tagmail.services.domain_readiness import DomainReadinessService
from tagmail.services.notices import Notifier
from tagmail.services.send import SendOutcome
from tests.unit.fakes import FakeDns, FakeDomainReadinessStore, FakeIdempotency, FakeMailgunDomains, FakeSendQueue
from tests.unit.test_send_service import PROJECT, Send

DOMAIN = "mg.shop.example"
KEY = "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"


def mailgun_records(domain: str) -> dict[str, object]:
    return {
        "domain": {"name": domain, "state": "active"},
        "sending_dns_records": [
            {"record_type": "TXT", "name": domain, "value": "v=spf1 include:mailgun.org ~all", "valid": "valid"},
            {"record_type": "TXT", "name": f"mx._domainkey.{domain}", "value": KEY, "valid": "valid"},
            {"record_type": "CNAME", "name": f"email.{domain}", "value": "mailgun.org", "valid": "valid"},
        ],
        "receiving_dns_records": [
            {"record_type": "MX", "name": domain, "value": "mxa.mailgun.org", "priority": "10"},
            {"record_type": "MX", "name": domain, "value": "mxb.mailgun.org", "priority": "10"},
        ],
    }


def published(domain: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """Every record Mailgun asks for, as DNS answers them."""
    return {
        (domain, "TXT"): ("v=spf1 include:mailgun.org ~all",),
        ("mailgun.org", "TXT"): ("v=spf1 include:_spf.mailgun.org ~all",),
        ("_spf.mailgun.org", "TXT"): ("v=spf1 ip4:198.61.254.0/23 ~all",),
        (f"mx._domainkey.{domain}", "TXT"): (KEY,),
        (f"email.{domain}", "CNAME"): ("mailgun.org",),
        (domain, "MX"): ("mxa.mailgun.org", "mxb.mailgun.org"),
        (f"_dmarc.{domain}", "TXT"): ("v=DMARC1; p=none",),
    }


class Readiness(Send):
    """The send path's world, with the domain check beside it on the same projects."""

    def __init__(self) -> None:
        super().__init__()
        project = self.projects.items[PROJECT]
        settings = replace(project.settings, notification_address="ops@shop.example")
        self.projects.items[PROJECT] = replace(project, settings=settings, domain_readiness=None)
        self.mailgun = FakeMailgunDomains()
        self.mailgun.domains[DOMAIN] = mailgun_records(DOMAIN)
        self.dns = FakeDns(published(DOMAIN))
        self.store = FakeDomainReadinessStore(self.projects)
        self.claims = FakeIdempotency()
        self.queue = FakeSendQueue()
        self.readiness = DomainReadinessService(
            projects=self.projects,
            secrets=self.secrets,
            mailgun_for=self.mailgun,
            dns=self.dns,
            store=self.store,
            notifier=Notifier(projects=self.projects, claims=self.claims, queue=self.queue, clock=self.clock),
            clock=self.clock,
        )

    def break_dkim(self) -> None:
        del self.dns.records[(f"mx._domainkey.{DOMAIN}", "TXT")]

    def notices(self) -> list[str]:
        return [request.template_id for request in self.queue.requests]


@pytest.fixture
def world() -> Readiness:
    return Readiness()


def test_a_correct_domain_passes_and_sending_opens_48_hours_later(world: Readiness) -> None:
    status = world.readiness.check(PROJECT)

    assert {check.name: check.status for check in status.report.checks} == dict.fromkeys(CheckName, CheckStatus.PASS)
    assert status.readiness.passing_since == world.clock()
    assert status.opens_at == world.clock() + timedelta(hours=48)
    assert status.closed_reason == "domain_not_ready:waiting"


def test_sending_is_refused_before_the_48_hours_and_allowed_after(world: Readiness) -> None:
    world.user()
    world.readiness.check(PROJECT)

    world.clock.advance(hours=47)
    world.readiness.check_all()  # the daily re-check keeps the first-seen time
    before = world.service.send(world.request(occurrence="before"))
    world.clock.advance(hours=1)
    after = world.service.send(world.request(occurrence="after"))

    assert before is SendOutcome.SKIPPED
    assert after is SendOutcome.SENT
    assert world.readiness.status(PROJECT).sending_open


def test_a_record_that_breaks_closes_sending_and_the_wait_starts_again_once_fixed(world: Readiness) -> None:
    world.user()
    world.readiness.check(PROJECT)
    world.clock.advance(days=3)
    world.break_dkim()

    world.readiness.check_all()
    closed = world.service.send(world.request(occurrence="while-broken"))
    world.dns.records[(f"mx._domainkey.{DOMAIN}", "TXT")] = (KEY,)
    world.clock.advance(days=1)
    fixed = world.readiness.check(PROJECT)

    assert closed is SendOutcome.SKIPPED
    record = world.messages.get(PROJECT, world.request(occurrence="while-broken").send_key)
    assert record is not None
    assert record.reason == "domain_not_ready:dkim"
    assert fixed.readiness.passing_since == world.clock()
    assert fixed.opens_at == world.clock() + timedelta(hours=48)


def test_the_daily_check_notifies_once_for_a_breakage(world: Readiness) -> None:
    world.readiness.check_all()
    world.clock.advance(days=1)
    world.break_dkim()

    first = world.readiness.check_all()
    world.clock.advance(hours=6)
    again_same_day = world.readiness.check_all()
    world.clock.advance(days=1)
    next_day = world.readiness.check_all()

    assert (first.checked, first.broken) == (1, 1)
    assert (again_same_day.broken, next_day.broken) == (0, 0)
    [notice] = world.queue.requests
    assert notice.kind is SendKind.OPERATIONAL
    assert notice.template_id == NoticeKind.DOMAIN_RECORD_BROKEN.template_id
    assert notice.to == "ops@shop.example"
    assert [check["name"] for check in notice.variables["checks"]] == ["DKIM"]
    assert any(f"mx._domainkey.{DOMAIN}." in line for line in notice.variables["checks"][0]["records"])


def test_a_retried_daily_run_does_not_notify_twice(world: Readiness) -> None:
    world.readiness.check_all()
    world.clock.advance(days=1)
    world.break_dkim()
    before_break = world.projects.items[PROJECT]

    world.readiness.check_all()
    # The same run again, as if its first attempt died after queueing the notice.
    world.projects.items[PROJECT] = before_break
    world.readiness.check_all()

    assert len(world.queue.requests) == 1


def test_a_record_that_breaks_again_after_a_fix_is_notified_again(world: Readiness) -> None:
    world.readiness.check_all()
    world.clock.advance(days=1)
    world.break_dkim()
    world.readiness.check_all()
    world.clock.advance(days=1)
    world.dns.records[(f"mx._domainkey.{DOMAIN}", "TXT")] = (KEY,)
    world.readiness.check_all()
    world.clock.advance(days=1)
    world.break_dkim()

    world.readiness.check_all()

    assert len(world.queue.requests) == 2


def test_a_domain_still_being_set_up_is_not_notified(world: Readiness) -> None:
    world.break_dkim()

    world.readiness.check_all()
    world.clock.advance(days=1)
    world.readiness.check_all()

    assert world.queue.requests == []


def test_a_dns_outage_keeps_the_first_seen_time_and_notifies_nobody(world: Readiness) -> None:
    first = world.readiness.check(PROJECT)
    world.clock.advance(days=1)
    world.dns.error = DnsError.TIMEOUT

    during = world.readiness.check(PROJECT)

    assert during.readiness.passing_since == first.readiness.passing_since
    assert during.report.inconclusive == (CheckName.SPF, CheckName.DKIM)
    assert world.queue.requests == []


def test_mailgun_failing_for_one_project_does_not_stop_the_others(world: Readiness) -> None:
    other = Project("p2", "other", world.clock(), world.projects.items[PROJECT].settings)
    world.projects.add(other)
    world.secrets.put("p2", ProjectSecrets("unsub", "key-2"))
    world.mailgun.failure = MailgunUnavailable("Mailgun error 503", 503)

    result = world.readiness.check_all()

    assert (result.checked, result.failed) == (0, 2)


def test_disabled_projects_and_projects_without_a_key_are_skipped(world: Readiness) -> None:
    project = world.projects.items[PROJECT]
    world.projects.items[PROJECT] = replace(project, settings=replace(project.settings, enabled=False))

    result = world.readiness.check_all()

    assert (result.checked, result.skipped) == (0, 1)
    assert world.dns.lookups == []


def test_the_status_is_the_stored_report_without_asking_dns_again(world: Readiness) -> None:
    world.readiness.check(PROJECT)
    asked = len(world.dns.lookups)

    status = world.readiness.status(PROJECT)

    assert len(world.dns.lookups) == asked
    assert status.report.domain == DOMAIN


def test_a_new_domain_is_checked_afresh(world: Readiness) -> None:
    world.readiness.check(PROJECT)
    project = world.projects.items[PROJECT]
    world.projects.items[PROJECT] = replace(
        project, settings=replace(project.settings, sending_domain="mg2.shop.example")
    )
    world.mailgun.domains["mg2.shop.example"] = mailgun_records("mg2.shop.example")

    status = world.readiness.status(PROJECT)

    assert status.report.domain == "mg2.shop.example"
    assert status.readiness.failing == (CheckName.SPF, CheckName.DKIM)
    assert status.closed_reason == "domain_not_ready:dkim+spf"


def test_a_project_without_a_domain_cannot_be_checked(world: Readiness) -> None:
    project = world.projects.items[PROJECT]
    world.projects.items[PROJECT] = replace(project, settings=replace(project.settings, sending_domain=None))

    with pytest.raises(Conflict, match="no sending domain"):
        world.readiness.check(PROJECT)


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_the_broken_record_notice_renders_its_checks_and_records(locale: str) -> None:
    version = notice_template(NoticeKind.DOMAIN_RECORD_BROKEN.template_id)
    assert version is not None
    variables = {
        "project_name": "Shop",
        "domain": DOMAIN,
        "checked_at": "2026-12-02T09:00+00:00",
        "wait_hours": 48,
        "checks": [
            {
                "name": "DKIM",
                "summary": "no DKIM key at mx._domainkey.mg.shop.example",
                "records": ['mx._domainkey.mg.shop.example. 3600 IN TXT "k=rsa; p=MIGf"'],
            }
        ],
    }

    rendered = JinjaRenderer().render(version.contents[locale], variables, footer=None)

    assert DOMAIN in rendered.subject
    assert "no DKIM key at mx._domainkey.mg.shop.example" in rendered.html
    assert "mx._domainkey.mg.shop.example. 3600 IN TXT" in rendered.text
