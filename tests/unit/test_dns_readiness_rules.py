"""The readiness rules without DNS: the organisational domain, when sending opens, what resets the
first-seen time, and which breakage is news."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tagmail.domain.dns_readiness import (
    Check,
    CheckName,
    CheckStatus,
    DnsAnswer,
    DnsError,
    DomainReadiness,
    MailgunDomainRecords,
    ReadinessReport,
    RecordToAdd,
    check_spf,
    closed_reason,
    newly_broken,
    next_readiness,
    organizational_domain,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DOMAIN = "mail.shop.example"


def report(at: datetime, **statuses: CheckStatus | DnsError) -> ReadinessReport:
    """A report whose SPF and DKIM are as given (a DnsError: failed because DNS did not answer)."""
    checks = []
    for name in (CheckName.SPF, CheckName.DKIM):
        given = statuses.get(name.value, CheckStatus.PASS)
        if isinstance(given, DnsError):
            checks.append(Check(name, CheckStatus.FAIL, "lookup failed", dns_error=given))
        else:
            checks.append(Check(name, given, "as given"))
    return ReadinessReport(DOMAIN, at, tuple(checks))


@pytest.mark.parametrize(
    ("domain", "organisation"),
    [
        ("mail.shop.example", "shop.example"),
        ("shop.example", "shop.example"),
        ("news.mail.shop.co.jp", "shop.co.jp"),
        ("mail.shop.ne.jp", "shop.ne.jp"),
        ("mail.shop.co.uk", "shop.co.uk"),
        ("mail.shop.com.au", "shop.com.au"),
        ("Mail.Shop.Example.", "shop.example"),
    ],
)
def test_the_organisational_domain_is_two_labels_or_three_under_a_known_two_level_suffix(
    domain: str, organisation: str
) -> None:
    assert organizational_domain(domain) == organisation


def test_sending_opens_the_wait_after_spf_and_dkim_were_first_seen_passing() -> None:
    first = next_readiness(None, report(T0))
    later = next_readiness(first, report(T0 + timedelta(hours=30)))

    assert later.passing_since == T0
    assert closed_reason(later, DOMAIN, 48, T0 + timedelta(hours=47, minutes=59)) == "domain_not_ready:waiting"
    assert closed_reason(later, DOMAIN, 48, T0 + timedelta(hours=48)) is None
    assert closed_reason(later, DOMAIN, 0, T0) is None


def test_a_broken_required_record_resets_the_first_seen_time() -> None:
    passing = next_readiness(None, report(T0))
    broken = next_readiness(passing, report(T0 + timedelta(days=3), dkim=CheckStatus.FAIL))
    fixed = next_readiness(broken, report(T0 + timedelta(days=4)))

    assert broken.passing_since is None
    assert closed_reason(broken, DOMAIN, 48, T0 + timedelta(days=3)) == "domain_not_ready:dkim"
    assert fixed.passing_since == T0 + timedelta(days=4)
    assert closed_reason(fixed, DOMAIN, 48, T0 + timedelta(days=5)) == "domain_not_ready:waiting"


def test_a_dns_timeout_keeps_what_was_known() -> None:
    passing = next_readiness(None, report(T0))
    timed_out = next_readiness(passing, report(T0 + timedelta(days=3), spf=DnsError.TIMEOUT))

    assert timed_out.passing_since == T0
    assert timed_out.checked_at == T0 + timedelta(days=3)
    assert newly_broken(passing, timed_out) == ()


def test_a_missing_name_is_a_definite_failure() -> None:
    passing = next_readiness(None, report(T0))
    gone = next_readiness(passing, report(T0 + timedelta(days=1), dkim=DnsError.NXDOMAIN))

    assert gone.failing == (CheckName.DKIM,)


def test_warnings_do_not_close_sending() -> None:
    state = next_readiness(None, report(T0, spf=CheckStatus.WARN))
    assert state.passing_since == T0


def test_an_unchecked_domain_or_another_domain_is_not_open() -> None:
    state = next_readiness(None, report(T0))

    assert closed_reason(None, DOMAIN, 48, T0) == "domain_not_ready:unchecked"
    assert closed_reason(state, "other.shop.example", 48, T0 + timedelta(days=9)) == "domain_not_ready:unchecked"
    assert closed_reason(state, DOMAIN.upper(), 48, T0 + timedelta(days=9)) is None


def test_only_a_record_that_passed_before_is_reported_as_broken() -> None:
    setting_up = next_readiness(None, report(T0, spf=CheckStatus.FAIL, dkim=CheckStatus.FAIL))
    still = next_readiness(setting_up, report(T0 + timedelta(days=1), spf=CheckStatus.FAIL, dkim=CheckStatus.FAIL))
    passing = next_readiness(still, report(T0 + timedelta(days=2)))
    broken = next_readiness(passing, report(T0 + timedelta(days=3), spf=CheckStatus.FAIL))
    both = next_readiness(broken, report(T0 + timedelta(days=4), spf=CheckStatus.FAIL, dkim=CheckStatus.FAIL))

    assert newly_broken(None, setting_up) == ()
    assert newly_broken(setting_up, still) == ()
    assert newly_broken(passing, broken) == (CheckName.SPF,)
    assert newly_broken(broken, both) == (CheckName.DKIM,)
    assert newly_broken(DomainReadiness("old.example", T0, T0), broken) == ()


def test_spf_lookups_are_counted_through_includes_with_a_bound_on_the_queries() -> None:
    # Every include names a record with another include: an endless chain.
    def lookup(name: str, record_type: str) -> DnsAnswer:
        if name == DOMAIN:
            return DnsAnswer(("v=spf1 include:n0.example ~all",))
        number = int(name.split(".", maxsplit=1)[0][1:])
        return DnsAnswer((f"v=spf1 include:n{number + 1}.example ~all",))

    expected = MailgunDomainRecords(DOMAIN, "active", (), ())
    check = check_spf(expected, lookup)

    assert check.status is CheckStatus.FAIL
    assert "needs at least 11 DNS lookups" in check.summary


def test_records_are_written_as_zone_file_lines() -> None:
    long_value = "k=rsa; p=" + "A" * 300

    txt = RecordToAdd("TXT", "k1._domainkey.mail.shop.example", long_value).zone_line()
    mx = RecordToAdd("MX", DOMAIN, "mxa.mailgun.org", "10").zone_line()

    assert txt.startswith('k1._domainkey.mail.shop.example. 3600 IN TXT "k=rsa; p=AAA')
    assert txt.count('"') == 4  # two strings: 255 characters, then the rest
    assert mx == "mail.shop.example. 3600 IN MX 10 mxa.mailgun.org."
