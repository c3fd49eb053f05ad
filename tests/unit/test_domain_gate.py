"""The send path's domain gate: marketing and test mail wait until SPF and DKIM have passed for
the project's waiting time (48 hours by default); operational notices never wait."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tagmail.domain.dns_readiness import CheckName, DomainReadiness
from tagmail.domain.sending import MessageStatus, SendKind
from tagmail.services.send import SendOutcome
from tests.unit.test_send_service import PROJECT, Send

DOMAIN = "mg.shop.example"


@pytest.fixture
def world() -> Send:
    return Send()


def readiness(world: Send, readiness: DomainReadiness | None, **settings: object) -> None:
    project = world.projects.items[PROJECT]
    world.projects.items[PROJECT] = replace(
        project, domain_readiness=readiness, settings=replace(project.settings, **settings)
    )


def skip_reason(world: Send, **request: object) -> str | None:
    record = world.messages.get(PROJECT, world.request(**request).send_key)
    assert record is not None
    assert record.status is MessageStatus.SKIPPED
    return record.reason


def test_a_domain_never_checked_gets_no_marketing_mail(world: Send) -> None:
    world.user()
    readiness(world, None)

    assert world.service.send(world.request()) is SendOutcome.SKIPPED

    assert world.mailer.sent == []
    assert skip_reason(world) == "domain_not_ready:unchecked"


def test_sending_is_refused_before_the_wait_and_allowed_after(world: Send) -> None:
    world.user()
    first_passed = world.clock()
    readiness(world, DomainReadiness(DOMAIN, first_passed, passing_since=first_passed))

    world.clock.advance(hours=47, minutes=59)
    early = world.service.send(world.request(occurrence="early"))
    world.clock.advance(minutes=1)
    on_time = world.service.send(world.request(occurrence="on-time"))

    assert early is SendOutcome.SKIPPED
    assert skip_reason(world, occurrence="early") == "domain_not_ready:waiting"
    assert on_time is SendOutcome.SENT
    assert len(world.mailer.sent) == 1


def test_the_waiting_time_is_the_projects_setting(world: Send) -> None:
    world.user()
    readiness(world, DomainReadiness(DOMAIN, world.clock(), passing_since=world.clock()), sending_wait_hours=0)

    assert world.service.send(world.request()) is SendOutcome.SENT


def test_a_broken_record_names_itself_in_the_skip(world: Send) -> None:
    world.user()
    readiness(world, DomainReadiness(DOMAIN, world.clock(), None, (CheckName.SPF, CheckName.DKIM)))

    world.service.send(world.request())

    assert skip_reason(world) == "domain_not_ready:dkim+spf"


def test_a_readiness_of_the_previous_domain_does_not_open_a_new_one(world: Send) -> None:
    world.user()
    long_ago = world.clock() - timedelta(days=90)
    readiness(world, DomainReadiness("old.shop.example", long_ago, passing_since=long_ago))

    world.service.send(world.request())

    assert skip_reason(world) == "domain_not_ready:unchecked"


def test_test_sends_wait_too(world: Send) -> None:
    readiness(world, None)

    outcome = world.service.send(world.request(kind=SendKind.TEST, user_key=None, to="me@shop.example"))

    assert outcome is SendOutcome.SKIPPED
    assert world.mailer.sent == []


def test_operational_notices_go_out_while_the_domain_is_not_ready(world: Send) -> None:
    readiness(world, DomainReadiness(DOMAIN, world.clock(), None, (CheckName.DKIM,)))

    outcome = world.service.send(world.request(kind=SendKind.OPERATIONAL, user_key=None, to="ops@shop.example"))

    assert outcome is SendOutcome.SENT
    assert [mail.to for mail in world.mailer.sent] == ["ops@shop.example"]


def test_an_unsubscribed_user_is_skipped_as_unsubscribed_whatever_the_domain(world: Send) -> None:
    world.user(subscription=False)
    readiness(world, None)

    world.service.send(world.request())

    assert skip_reason(world) == "unsubscribed"
