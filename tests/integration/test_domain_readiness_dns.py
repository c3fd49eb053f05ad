"""The readiness checks against a real DNS server on 127.0.0.1: a correct domain passes, and each
broken zone's report names the record that is wrong, with the record to add."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tagmail.adapters.dns import DnsRecordLookup
from tagmail.domain.dns_readiness import (
    Check,
    CheckName,
    CheckOptions,
    CheckStatus,
    DnsAnswer,
    DnsError,
    ReadinessReport,
    check_domain,
)
from tests.integration.dns_zones import SendingDomain, cname, dns_server, silent_server, txt, without

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SHOP = SendingDomain("mail.shop.test")


def report_for(
    domain: SendingDomain, zone: str, *, tracking: bool = True, from_domain: str | None = None
) -> ReadinessReport:
    with dns_server(zone) as (host, port):
        lookup = DnsRecordLookup(nameservers=[host], port=port, timeout_seconds=2.0)
        return check_domain(
            domain.expected, lookup.lookup, NOW, CheckOptions(from_domain=from_domain, tracking=tracking)
        )


def check(report: ReadinessReport, name: CheckName) -> Check:
    found = report.check(name)
    assert found is not None, f"no {name} check in the report"
    return found


# -- a correct domain -----------------------------------------------------------------------------


def test_a_domain_with_every_record_mailgun_asks_for_passes_every_check() -> None:
    report = report_for(SHOP, SHOP.zone(), from_domain="mail.shop.test")

    assert {c.name: c.status for c in report.checks} == {
        CheckName.SPF: CheckStatus.PASS,
        CheckName.DKIM: CheckStatus.PASS,
        CheckName.MX: CheckStatus.PASS,
        CheckName.DMARC: CheckStatus.PASS,
        CheckName.TRACKING: CheckStatus.PASS,
    }
    assert report.failing == ()
    assert report.records_to_add == ()
    assert "2 DNS lookups" in check(report, CheckName.SPF).summary  # include:mailgun.org → include:_spf.mailgun.org


# -- SPF -------------------------------------------------------------------------------------------


def test_no_spf_record_fails_and_names_mailguns_record() -> None:
    report = report_for(SHOP, SHOP.zone(spf=False))

    spf = check(report, CheckName.SPF)
    assert spf.status is CheckStatus.FAIL
    assert spf.dns_error is None  # the name answered: there is no SPF record, not a DNS failure
    assert "no SPF record on mail.shop.test" in spf.summary
    (record,) = spf.records_to_add
    assert (record.record_type, record.name, record.value) == (
        "TXT",
        "mail.shop.test",
        "v=spf1 include:mailgun.org ~all",
    )
    assert report.failing == (CheckName.SPF,)


def test_two_spf_records_fail_and_both_are_named_for_replacement() -> None:
    second = "v=spf1 include:_spf.google.com ~all"
    report = report_for(SHOP, SHOP.zone() + txt("mail.shop.test", second))

    spf = check(report, CheckName.SPF)
    assert spf.status is CheckStatus.FAIL
    assert "2 SPF records" in spf.summary
    assert set(spf.found) == {"v=spf1 include:mailgun.org ~all", second}
    assert set(spf.records_to_add[0].replaces) == set(spf.found)


def test_spf_without_mailgun_fails() -> None:
    zone = without(SHOP.zone(spf=False), "v=spf1") + txt("mail.shop.test", "v=spf1 include:_spf.google.com ~all")
    report = report_for(SHOP, zone)

    spf = check(report, CheckName.SPF)
    assert spf.status is CheckStatus.FAIL
    assert "does not include Mailgun (include:mailgun.org)" in spf.summary
    assert spf.records_to_add[0].replaces == ("v=spf1 include:_spf.google.com ~all",)


def test_spf_ending_in_plus_all_fails() -> None:
    report = report_for(SHOP, SHOP.zone(spf=False) + txt("mail.shop.test", "v=spf1 include:mailgun.org +all"))

    spf = check(report, CheckName.SPF)
    assert spf.status is CheckStatus.FAIL
    assert '"+all"' in spf.summary


def test_spf_over_ten_dns_lookups_through_includes_fails() -> None:
    # 1 (include:mailgun.org) + 1 (its include) + 1 (include:big) + 9 in big's record = 12.
    big = (
        "v=spf1 a mx ptr exists:%{i}.x.shop.test a:h1.shop.test a:h2.shop.test a:h3.shop.test mx:m.shop.test "
        "a:h4.shop.test ~all"
    )
    zone = (
        SHOP.zone(spf=False)
        + txt("mail.shop.test", "v=spf1 include:mailgun.org include:big.shop.test ~all")
        + txt("big.shop.test", big)
    )
    report = report_for(SHOP, zone)

    spf = check(report, CheckName.SPF)
    assert spf.status is CheckStatus.FAIL
    assert "needs 12 DNS lookups" in spf.summary
    assert "the limit is 10" in spf.summary


def test_an_include_that_does_not_exist_fails_the_spf_check() -> None:
    zone = SHOP.zone(spf=False) + txt("mail.shop.test", "v=spf1 include:mailgun.org include:gone.shop.test ~all")
    spf = check(report_for(SHOP, zone), CheckName.SPF)

    assert spf.status is CheckStatus.FAIL
    assert "include:gone.shop.test names a domain that does not exist (NXDOMAIN)" in spf.summary


# -- DKIM ------------------------------------------------------------------------------------------


def test_no_dkim_record_fails_with_the_name_that_does_not_exist() -> None:
    report = report_for(SHOP, SHOP.zone(dkim=False))

    dkim = check(report, CheckName.DKIM)
    assert dkim.status is CheckStatus.FAIL
    assert dkim.dns_error is DnsError.NXDOMAIN
    assert "k1._domainkey.mail.shop.test does not exist in DNS (NXDOMAIN)" in dkim.summary
    (record,) = dkim.records_to_add
    assert (record.record_type, record.name) == ("TXT", "k1._domainkey.mail.shop.test")
    assert record.value == SHOP.record("dkim")["value"]
    assert report.failing == (CheckName.DKIM,)


def test_a_dkim_key_on_another_selector_fails_and_says_where_it_is() -> None:
    key = SHOP.record("dkim")["value"]
    report = report_for(SHOP, SHOP.zone(dkim=False) + txt("mx._domainkey.mail.shop.test", key))

    dkim = check(report, CheckName.DKIM)
    assert dkim.status is CheckStatus.FAIL
    assert dkim.records_to_add[0].name == "k1._domainkey.mail.shop.test"
    assert any("mx._domainkey.mail.shop.test" in line and "'k1'" in line for line in dkim.details)


def test_a_dkim_record_with_another_key_fails() -> None:
    other = "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwrongkey"
    report = report_for(SHOP, SHOP.zone(dkim=False) + txt("k1._domainkey.mail.shop.test", other))

    dkim = check(report, CheckName.DKIM)
    assert dkim.status is CheckStatus.FAIL
    assert "another key" in dkim.summary
    assert dkim.records_to_add[0].replaces == (other,)


def test_a_2048_bit_key_split_into_several_dns_strings_passes() -> None:
    domain = SendingDomain("big.shop.test", dkim_key_size=2048)
    assert len(domain.record("dkim")["value"]) > 255  # published as two strings of one TXT record

    report = report_for(domain, domain.zone())

    assert check(report, CheckName.DKIM).status is CheckStatus.PASS


def test_dkim_by_the_cnames_of_automatic_sender_security_passes() -> None:
    domain = SendingDomain("auto.shop.test", automatic_sender_security=True)
    report = report_for(domain, domain.zone())

    dkim = check(report, CheckName.DKIM)
    assert dkim.status is CheckStatus.PASS
    assert any("pdk1._domainkey.auto.shop.test" in found for found in dkim.found)


def test_a_missing_cname_of_automatic_sender_security_is_named() -> None:
    domain = SendingDomain("auto.shop.test", automatic_sender_security=True)
    report = report_for(domain, without(domain.zone(), "pdk2._domainkey"))

    dkim = check(report, CheckName.DKIM)
    assert dkim.status is CheckStatus.FAIL
    (record,) = dkim.records_to_add
    assert (record.record_type, record.name) == ("CNAME", "pdk2._domainkey.auto.shop.test")
    assert record.value == "pdk2._domainkey.0123456789abcdef01234567.dkim1.mailgun.com"


# -- MX, DMARC, tracking ---------------------------------------------------------------------------


def test_no_mx_is_a_warning_that_spells_out_the_lost_bounces() -> None:
    report = report_for(SHOP, SHOP.zone(mx=False))

    mx = check(report, CheckName.MX)
    assert mx.status is CheckStatus.WARN
    assert "bounces are not captured" in mx.summary
    assert {(r.record_type, r.value, r.priority) for r in mx.records_to_add} == {
        ("MX", "mxa.mailgun.org", "10"),
        ("MX", "mxb.mailgun.org", "10"),
    }
    assert report.failing == ()  # recommended, not required


def test_no_dmarc_fails_and_names_the_record_to_add() -> None:
    report = report_for(SHOP, SHOP.zone(dmarc=False))

    dmarc = check(report, CheckName.DMARC)
    assert dmarc.status is CheckStatus.FAIL
    assert "_dmarc.mail.shop.test" in dmarc.summary
    assert "_dmarc.shop.test" in dmarc.summary  # the organisational domain was asked too
    assert dmarc.records_to_add[0].name == "_dmarc.mail.shop.test"
    assert report.failing == ()  # DMARC is reported, sending does not wait for it


def test_dmarc_on_the_organisational_domain_only_passes() -> None:
    domain = SendingDomain("news.shop.co.jp")
    zone = domain.zone(dmarc=False) + txt("_dmarc.shop.co.jp", "v=DMARC1; p=quarantine; rua=mailto:d@shop.co.jp")
    report = report_for(domain, zone, from_domain="news.shop.co.jp")

    dmarc = check(report, CheckName.DMARC)
    assert dmarc.status is CheckStatus.PASS
    assert "inherited from _dmarc.shop.co.jp" in dmarc.summary
    assert "p=quarantine" in dmarc.summary
    assert "aligned" in dmarc.summary


def test_a_dmarc_record_without_a_policy_fails() -> None:
    zone = SHOP.zone(dmarc=False) + txt("_dmarc.mail.shop.test", "v=DMARC1; rua=mailto:d@shop.test")
    assert check(report_for(SHOP, zone), CheckName.DMARC).status is CheckStatus.FAIL


def test_a_missing_tracking_cname_fails_when_tracking_is_on_and_is_not_checked_when_off() -> None:
    zone = SHOP.zone(tracking=False)

    on = check(report_for(SHOP, zone), CheckName.TRACKING)
    off = report_for(SHOP, zone, tracking=False)

    assert on.status is CheckStatus.FAIL
    assert (on.records_to_add[0].name, on.records_to_add[0].value) == ("email.mail.shop.test", "mailgun.org")
    assert off.check(CheckName.TRACKING) is None


def test_a_tracking_cname_pointing_elsewhere_fails() -> None:
    zone = SHOP.zone(tracking=False) + cname("email.mail.shop.test", "tracking.other.test")
    tracking = check(report_for(SHOP, zone), CheckName.TRACKING)

    assert tracking.status is CheckStatus.FAIL
    assert tracking.records_to_add[0].replaces == ("tracking.other.test",)


# -- EU --------------------------------------------------------------------------------------------


def test_an_eu_domain_with_the_eu_records_passes() -> None:
    domain = SendingDomain("mail.shop.eu.test", region="eu")
    report = report_for(domain, domain.zone())

    assert all(c.status is CheckStatus.PASS for c in report.checks), [c.summary for c in report.checks]
    assert check(report, CheckName.SPF).found == ("v=spf1 include:eu.mailgun.org ~all",)


def test_an_eu_domain_with_the_us_mx_hosts_is_told_the_eu_ones() -> None:
    domain = SendingDomain("mail.shop.eu.test", region="eu")
    zone = domain.zone(mx=False) + "mail.shop.eu.test. 300 IN MX 10 mxa.mailgun.org.\n"

    mx = check(report_for(domain, zone), CheckName.MX)
    assert mx.status is CheckStatus.WARN
    assert {r.value for r in mx.records_to_add} == {"mxa.eu.mailgun.org", "mxb.eu.mailgun.org"}


# -- DNS failures ----------------------------------------------------------------------------------


def test_a_dns_server_that_never_answers_is_reported_as_a_timeout_not_as_missing_records() -> None:
    with silent_server() as (host, port):
        lookup = DnsRecordLookup(nameservers=[host], port=port, timeout_seconds=0.3)
        report = check_domain(SHOP.expected, lookup.lookup, NOW)

    assert {c.name: c.dns_error for c in report.checks} == dict.fromkeys(CheckName, DnsError.TIMEOUT)
    assert all("timed out" in c.summary for c in report.checks)
    assert not any("no SPF" in c.summary or "no DKIM" in c.summary for c in report.checks)
    assert report.failing == ()
    assert report.inconclusive == (CheckName.SPF, CheckName.DKIM)


def test_a_failing_dns_server_is_reported_as_servfail() -> None:
    domain = SendingDomain("mail.servfail.test")
    report = report_for(domain, domain.zone())

    spf = check(report, CheckName.SPF)
    assert spf.status is CheckStatus.FAIL
    assert spf.dns_error is DnsError.SERVFAIL
    assert "SERVFAIL" in spf.summary


# -- the adapter -----------------------------------------------------------------------------------


def test_the_lookup_tells_a_missing_name_from_a_name_without_such_records() -> None:
    with dns_server(SHOP.zone(spf=False)) as (host, port):
        lookup = DnsRecordLookup(nameservers=[host], port=port, timeout_seconds=2.0)
        missing = lookup.lookup("nothing.mail.shop.test", "TXT")
        empty = lookup.lookup("mail.shop.test", "TXT")
        mx = lookup.lookup("mail.shop.test", "MX")

    assert missing == DnsAnswer(error=DnsError.NXDOMAIN)
    assert empty == DnsAnswer()
    assert sorted(mx.records) == ["mxa.mailgun.org", "mxb.mailgun.org"]
