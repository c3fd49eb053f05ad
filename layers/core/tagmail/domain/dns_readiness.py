"""Whether a sending domain is ready: the DNS records Mailgun asks for, checked against what DNS
answers, and when sending opens.

The rules here do no I/O: they are given Mailgun's expected records and a `Lookup` that answers
DNS questions, and produce a report of checks, each `pass`, `fail` or `warn`, with what was found,
what was expected and the exact record to add.

Product rules: SPF and DKIM are required, MX is recommended (without it bounces are not captured),
and sending opens `sending_wait_hours` (48 by default) after SPF and DKIM were first seen passing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# -- DNS answers ----------------------------------------------------------------------------------


class DnsError(StrEnum):
    """Why a lookup gave no records. Only NXDOMAIN is a definite answer (the name does not exist);
    the others say nothing about the records, so they never count as "missing"."""

    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"  # no server answered (network error, every server failed)

    @property
    def definite(self) -> bool:
        return self is DnsError.NXDOMAIN

    def describe(self, name: str, record_type: str) -> str:
        return {
            DnsError.NXDOMAIN: f"{name} does not exist in DNS (NXDOMAIN)",
            DnsError.SERVFAIL: f"the DNS server failed the {record_type} lookup of {name} (SERVFAIL)",
            DnsError.REFUSED: f"the DNS server refused the {record_type} lookup of {name} (REFUSED)",
            DnsError.TIMEOUT: f"the {record_type} lookup of {name} timed out",
            DnsError.UNREACHABLE: f"no DNS server answered the {record_type} lookup of {name}",
        }[self]


@dataclass(frozen=True)
class DnsAnswer:
    """TXT: each record's strings joined; CNAME: the target; MX: the host (lower case, no final
    dot; a null MX is "."). An empty answer without error: the name exists, without such records."""

    records: tuple[str, ...] = ()
    error: DnsError | None = None


# (name, record type "TXT" | "CNAME" | "MX") -> answer
Lookup = Callable[[str, str], DnsAnswer]


# -- what Mailgun expects ------------------------------------------------------------------------

MAILGUN_HOSTS = ("mailgun.org", "eu.mailgun.org")
# Selectors Mailgun domains use (documented examples and real zones); probed only to explain a
# DKIM key published under another selector than the one Mailgun signs with.
KNOWN_DKIM_SELECTORS = ("k1", "mx", "smtp", "mailo", "krs", "pic", "s1", "s2", "mg", "email")


@dataclass(frozen=True)
class ExpectedRecord:
    record_type: str
    name: str
    value: str
    priority: str | None = None
    valid: str | None = None  # Mailgun's own last check: "valid", "unknown", ...


@dataclass(frozen=True)
class MailgunDomainRecords:
    """`GET /v4/domains/{domain}` reduced to what the checks need."""

    domain: str
    state: str | None
    sending: tuple[ExpectedRecord, ...]
    receiving: tuple[ExpectedRecord, ...]
    eu: bool = False

    @classmethod
    def from_mailgun(cls, domain: str, info: Mapping[str, Any], *, eu: bool = False) -> MailgunDomainRecords:
        described = info.get("domain")
        state = described.get("state") if isinstance(described, Mapping) else None

        def parse(key: str) -> tuple[ExpectedRecord, ...]:
            found = info.get(key)
            return tuple(
                ExpectedRecord(
                    record_type=str(item.get("record_type", "")).upper(),
                    name=_host(str(item.get("name", ""))),
                    value=str(item.get("value", "")).strip(),
                    priority=str(item["priority"]) if item.get("priority") not in (None, "") else None,
                    valid=str(item["valid"]) if item.get("valid") not in (None, "") else None,
                )
                for item in (found if isinstance(found, list) else [])
                if isinstance(item, Mapping)
            )

        sending, receiving = parse("sending_dns_records"), parse("receiving_dns_records")
        # The records name the region (EU hosts end in eu.mailgun.org); the setting is the fallback.
        values = [record.value.lower() for record in (*sending, *receiving)]
        if any("eu.mailgun.org" in value for value in values):
            eu = True
        elif any("mailgun.org" in value for value in values):
            eu = False
        return cls(_host(domain), str(state) if state is not None else None, sending, receiving, eu)

    @property
    def mailgun_host(self) -> str:
        return "eu.mailgun.org" if self.eu else "mailgun.org"

    @property
    def spf(self) -> ExpectedRecord:
        for record in self.sending:
            if record.record_type == "TXT" and _is_spf(record.value):
                return record
        return ExpectedRecord("TXT", self.domain, f"v=spf1 include:{self.mailgun_host} ~all")

    @property
    def dkim(self) -> tuple[ExpectedRecord, ...]:
        return tuple(
            record
            for record in self.sending
            if record.record_type in ("TXT", "CNAME") and "._domainkey." in f".{record.name}."
        )

    @property
    def tracking(self) -> ExpectedRecord:
        for record in self.sending:
            if record.record_type == "CNAME" and "._domainkey." not in f".{record.name}.":
                return record
        return ExpectedRecord("CNAME", f"email.{self.domain}", self.mailgun_host)

    @property
    def mx(self) -> tuple[ExpectedRecord, ...]:
        found = tuple(record for record in self.receiving if record.record_type == "MX")
        prefix = "eu." if self.eu else ""
        return found or tuple(
            ExpectedRecord("MX", self.domain, f"{mx}.{prefix}mailgun.org", "10") for mx in ("mxa", "mxb")
        )


# -- the report ----------------------------------------------------------------------------------


class CheckName(StrEnum):
    SPF = "spf"
    DKIM = "dkim"
    MX = "mx"
    DMARC = "dmarc"
    TRACKING = "tracking"


# Sending opens only when these pass (product rule); the others are reported, never gate.
REQUIRED = (CheckName.SPF, CheckName.DKIM)


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check's status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class RecordToAdd:
    """A record to put in the zone; `replaces` lists the values at that name it takes the place of."""

    record_type: str
    name: str
    value: str
    priority: str | None = None
    replaces: tuple[str, ...] = ()

    def zone_line(self) -> str:
        """The record as a line of a zone file."""
        if self.record_type == "TXT":
            # A TXT string holds at most 255 characters; longer values are several strings.
            chunks = [self.value[i : i + 255] for i in range(0, len(self.value), 255)] or [""]
            data = " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)
        elif self.record_type in ("CNAME", "MX"):
            data = f"{self.value}."
        else:
            data = self.value
        priority = f"{self.priority} " if self.priority else ""
        return f"{self.name}. 3600 IN {self.record_type} {priority}{data}"


@dataclass(frozen=True)
class Check:
    name: CheckName
    status: CheckStatus
    summary: str
    found: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()
    records_to_add: tuple[RecordToAdd, ...] = ()
    dns_error: DnsError | None = None
    details: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.name in REQUIRED

    @property
    def inconclusive(self) -> bool:
        """Failed only because DNS gave no answer: nothing is known about the records."""
        return self.status is CheckStatus.FAIL and self.dns_error is not None and not self.dns_error.definite


@dataclass(frozen=True)
class ReadinessReport:
    domain: str
    checked_at: datetime
    checks: tuple[Check, ...]
    mailgun_state: str | None = None
    sending_dns_records: tuple[ExpectedRecord, ...] = ()
    receiving_dns_records: tuple[ExpectedRecord, ...] = ()

    def check(self, name: CheckName) -> Check | None:
        return next((check for check in self.checks if check.name is name), None)

    @property
    def failing(self) -> tuple[CheckName, ...]:
        """Required checks that fail for certain (a record is missing or wrong)."""
        return tuple(
            check.name
            for check in self.checks
            if check.required and check.status is CheckStatus.FAIL and not check.inconclusive
        )

    @property
    def inconclusive(self) -> tuple[CheckName, ...]:
        return tuple(check.name for check in self.checks if check.required and check.inconclusive)

    @property
    def records_to_add(self) -> tuple[RecordToAdd, ...]:
        seen: list[RecordToAdd] = []
        for check in self.checks:
            seen.extend(record for record in check.records_to_add if record not in seen)
        return tuple(seen)


# -- running the checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOptions:
    from_domain: str | None = None  # the sender address's domain (DMARC alignment)
    tracking: bool = True  # click or open tracking is on: the tracking CNAME is needed


def check_domain(
    expected: MailgunDomainRecords, lookup: Lookup, checked_at: datetime, options: CheckOptions | None = None
) -> ReadinessReport:
    """Every check of the domain; each DNS question is asked at most once."""
    options = options or CheckOptions()
    ask = _memo(lookup)
    checks = [
        check_spf(expected, ask),
        check_dkim(expected, ask),
        check_mx(expected, ask),
        check_dmarc(expected.domain, ask, options.from_domain),
    ]
    if options.tracking:
        checks.append(check_tracking(expected, ask))
    return ReadinessReport(
        domain=expected.domain,
        checked_at=checked_at,
        checks=tuple(checks),
        mailgun_state=expected.state,
        sending_dns_records=expected.sending,
        receiving_dns_records=expected.receiving,
    )


def _memo(lookup: Lookup) -> Lookup:
    answers: dict[tuple[str, str], DnsAnswer] = {}

    def ask(name: str, record_type: str) -> DnsAnswer:
        key = (_host(name), record_type)
        if key not in answers:
            answers[key] = lookup(*key)
        return answers[key]

    return ask


# -- SPF -------------------------------------------------------------------------------------------

SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4: more DNS-querying terms than this is a permanent error
_SPF_MAX_DEPTH = 10
_SPF_MAX_QUERIES = 25  # bound on the include/redirect records fetched while counting
_COUNTED = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})


def check_spf(expected: MailgunDomainRecords, lookup: Lookup) -> Check:
    domain = expected.domain
    wanted = expected.spf
    mailgun_record = RecordToAdd("TXT", domain, wanted.value)
    answer = lookup(domain, "TXT")
    expectation = (f'exactly one TXT record "v=spf1 …" on {domain} that includes {_mailgun_include(expected)}',)
    if answer.error is not None:
        return Check(
            CheckName.SPF,
            CheckStatus.FAIL,
            f"SPF could not be checked: {answer.error.describe(domain, 'TXT')}",
            expected=expectation,
            records_to_add=(mailgun_record,),
            dns_error=answer.error,
        )
    records = tuple(record for record in answer.records if _is_spf(record))
    if not records:
        return Check(
            CheckName.SPF,
            CheckStatus.FAIL,
            f"no SPF record on {domain}: receivers cannot tell that Mailgun may send its mail",
            expected=expectation,
            records_to_add=(mailgun_record,),
        )
    if len(records) > 1:
        return Check(
            CheckName.SPF,
            CheckStatus.FAIL,
            f"{len(records)} SPF records on {domain}: with more than one, SPF fails at every receiver "
            "(a permanent error); keep exactly one",
            found=records,
            expected=expectation,
            records_to_add=(replace(mailgun_record, replaces=records),),
            details=(
                "The domain is dedicated to sending through Mailgun, so Mailgun's record alone is enough; "
                "if something else sends from it too, merge its mechanisms into the one record.",
            ),
        )

    return _judge_spf(expected, records[0], expectation, lookup)


def _judge_spf(expected: MailgunDomainRecords, record: str, expectation: tuple[str, ...], lookup: Lookup) -> Check:
    domain = expected.domain
    wanted = expected.spf
    mailgun_record = RecordToAdd("TXT", domain, wanted.value)
    records = (record,)
    terms = _spf_terms(record)
    problems: list[str] = []
    details: list[str] = []
    includes = {target.lower() for kind, _, target in terms if kind == "include"}
    accepted = {_mailgun_include_host(wanted.value) or expected.mailgun_host, *MAILGUN_HOSTS}
    if not includes & accepted:
        problems.append(f"it does not include Mailgun (include:{expected.mailgun_host})")
    alls = [qualifier for kind, qualifier, _ in terms if kind == "all"]
    if alls and alls[-1] == "+":
        problems.append('it ends in "+all", which lets anyone send as the domain (receivers distrust it)')
    walker = _SpfWalker(lookup)
    count = walker.count(record, depth=0, seen={domain})
    if count > SPF_LOOKUP_LIMIT:
        problems.append(
            f"it needs {'at least ' if walker.stopped else ''}{count} DNS lookups "
            f"(include, a, mx, ptr, exists, redirect, counted through includes); the limit is {SPF_LOOKUP_LIMIT}, "
            "above it SPF fails at every receiver"
        )
    problems.extend(walker.problems)
    details.extend(walker.notes)

    if problems:
        return Check(
            CheckName.SPF,
            CheckStatus.FAIL,
            f"the SPF record of {domain} is wrong: " + "; ".join(problems),
            found=records,
            expected=expectation,
            records_to_add=(replace(mailgun_record, replaces=records),),
            details=(
                *details,
                "The domain is dedicated to sending through Mailgun, so Mailgun's record alone is enough; "
                f"if something else must stay, add include:{expected.mailgun_host} to its record before the all term.",
            ),
        )
    if walker.unresolved is not None:
        return Check(
            CheckName.SPF,
            CheckStatus.WARN,
            f"the SPF record of {domain} includes Mailgun, but its lookups could not all be counted: "
            + "; ".join(walker.notes),
            found=records,
            expected=expectation,
            dns_error=walker.unresolved,
        )
    if not alls and not any(kind == "redirect" for kind, _, _ in terms):
        return Check(
            CheckName.SPF,
            CheckStatus.WARN,
            f'the SPF record of {domain} includes Mailgun but has no "all" term: mail from other servers '
            'is "neutral" instead of failing; end it with "~all"',
            found=records,
            expected=expectation,
            details=(f"{count} DNS lookups of {SPF_LOOKUP_LIMIT}",),
        )
    return Check(
        CheckName.SPF,
        CheckStatus.PASS,
        f"one SPF record on {domain}, including Mailgun, with {count} DNS lookups of {SPF_LOOKUP_LIMIT}",
        found=records,
        expected=expectation,
        details=tuple(details),
    )


class _SpfWalker:
    """Counts an SPF record's DNS-querying terms, following include and redirect (bounded)."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._queries = 0
        self.total = 0
        self.stopped = False  # counting was cut short (past the limit or a bound)
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.unresolved: DnsError | None = None

    def count(self, record: str, depth: int, seen: set[str]) -> int:
        count = 0
        for kind, _, target in _spf_terms(record):
            if kind not in _COUNTED:
                continue
            count += 1
            self.total += 1
            if kind in ("include", "redirect") and target:
                count += self._follow(kind, target.lower(), depth, seen)
            if self.stopped and self.total > SPF_LOOKUP_LIMIT:
                break
        return count

    def _follow(self, kind: str, target: str, depth: int, seen: set[str]) -> int:
        if target in seen:
            self.problems.append(f"{kind}:{target} loops back to a record already included")
            return 0
        if "%" in target:  # a macro expands per message: it cannot be followed here
            return 0
        if depth >= _SPF_MAX_DEPTH or self._queries >= _SPF_MAX_QUERIES or self.total > SPF_LOOKUP_LIMIT:
            self.stopped = True  # the count is a lower bound from here on
            return 0
        self._queries += 1
        answer = self._lookup(target, "TXT")
        records = [record for record in answer.records if _is_spf(record)]
        if answer.error is DnsError.NXDOMAIN:
            self.problems.append(f"{kind}:{target} names a domain that does not exist (NXDOMAIN)")
        elif answer.error is not None:
            self.unresolved = self.unresolved or answer.error
            self.notes.append(answer.error.describe(target, "TXT"))
        elif len(records) != 1:
            self.problems.append(
                f"{kind}:{target} has {'no' if not records else len(records)} SPF records (a permanent error)"
            )
        else:
            return self.count(records[0], depth + 1, seen | {target})
        return 0


def _is_spf(value: str) -> bool:
    text = value.strip().lower()
    return text == "v=spf1" or text.startswith("v=spf1 ")


def _spf_terms(record: str) -> list[tuple[str, str, str]]:
    """(kind, qualifier, target) of each term after "v=spf1"; modifiers as kind "redirect"/"exp"."""
    terms = []
    for raw in record.split()[1:]:
        qualifier = raw[0] if raw[0] in "+-~?" else "+"
        body = raw[1:] if raw[0] in "+-~?" else raw
        if "=" in body and ":" not in body.split("=", 1)[0]:
            name, _, target = body.partition("=")
            terms.append((name.lower(), "", target))
            continue
        name, _, rest = body.partition(":")
        name = name.split("/", 1)[0].lower()
        terms.append((name, qualifier, rest.split("/", 1)[0] if name not in ("ip4", "ip6") else rest))
    return terms


def _mailgun_include_host(spf: str) -> str | None:
    return next((target.lower() for kind, _, target in _spf_terms(spf) if kind == "include"), None)


def _mailgun_include(expected: MailgunDomainRecords) -> str:
    return f"include:{_mailgun_include_host(expected.spf.value) or expected.mailgun_host}"


# -- DKIM ------------------------------------------------------------------------------------------


def check_dkim(expected: MailgunDomainRecords, lookup: Lookup) -> Check:
    records = expected.dkim
    if not records:
        return Check(
            CheckName.DKIM,
            CheckStatus.FAIL,
            f"Mailgun reported no DKIM record for {expected.domain}; check the domain at Mailgun",
        )
    if all(record.record_type == "CNAME" for record in records):
        return _check_dkim_cnames(expected, records, lookup)
    return _check_dkim_key(expected, records[0], lookup)


def _check_dkim_key(expected: MailgunDomainRecords, wanted: ExpectedRecord, lookup: Lookup) -> Check:
    name = wanted.name
    to_add = RecordToAdd("TXT", name, wanted.value)
    expectation = (f"a TXT record at {name} with the key Mailgun signs with ({_short(wanted.value)})",)
    answer = lookup(name, "TXT")
    if answer.error is not None and not answer.error.definite:
        return Check(
            CheckName.DKIM,
            CheckStatus.FAIL,
            f"DKIM could not be checked: {answer.error.describe(name, 'TXT')}",
            expected=expectation,
            records_to_add=(to_add,),
            dns_error=answer.error,
        )
    keys = [record for record in answer.records if "p=" in record.replace(" ", "").lower()]
    want = _dkim_key(wanted.value)
    if any(_dkim_key(record) == want for record in keys):
        return Check(
            CheckName.DKIM,
            CheckStatus.PASS,
            f"the DKIM key at {name} is the one Mailgun signs with",
            found=tuple(keys),
            expected=expectation,
        )
    if keys:
        revoked = all(not _dkim_key(record) for record in keys)
        return Check(
            CheckName.DKIM,
            CheckStatus.FAIL,
            f"the DKIM record at {name} "
            + ("has an empty key (revoked)" if revoked else "holds another key than the one Mailgun signs with")
            + ": receivers cannot verify Mailgun's signatures",
            found=tuple(keys),
            expected=expectation,
            records_to_add=(replace(to_add, replaces=tuple(keys)),),
        )
    selector = name.split("._domainkey.", 1)[0]
    elsewhere = (
        _other_selectors(expected.domain, selector, lookup) if answer.error is None or answer.error.definite else ()
    )
    missing = answer.error.describe(name, "TXT") if answer.error is not None else f"{name} has no TXT record"
    details = tuple(
        f"a DKIM key is published at {other}, but Mailgun signs with the selector {selector!r}: "
        f"the record must be at {name}"
        for other in elsewhere
    )
    return Check(
        CheckName.DKIM,
        CheckStatus.FAIL,
        f"no DKIM key at {name} ({missing})" + ("; a key was found under another selector" if elsewhere else ""),
        found=tuple(f"{other}: a DKIM key" for other in elsewhere),
        expected=expectation,
        records_to_add=(to_add,),
        dns_error=answer.error,
        details=details,
    )


def _other_selectors(domain: str, selector: str, lookup: Lookup) -> tuple[str, ...]:
    found = []
    for other in KNOWN_DKIM_SELECTORS:
        if other == selector:
            continue
        name = f"{other}._domainkey.{domain}"
        answer = lookup(name, "TXT")
        if answer.error is not None and not answer.error.definite:
            break  # DNS is failing: stop asking
        if any(_dkim_key(record) for record in answer.records):
            found.append(name)
    return tuple(found)


def _check_dkim_cnames(expected: MailgunDomainRecords, records: tuple[ExpectedRecord, ...], lookup: Lookup) -> Check:
    found: list[str] = []
    problems: list[str] = []
    to_add: list[RecordToAdd] = []
    error: DnsError | None = None
    for wanted in records:
        answer = lookup(wanted.name, "CNAME")
        targets = tuple(_host(target) for target in answer.records)
        found.extend(f"{wanted.name} → {target}" for target in targets)
        if _host(wanted.value) in targets:
            continue
        if answer.error is not None:
            error = error if error is not None and not error.definite else answer.error
            problems.append(answer.error.describe(wanted.name, "CNAME"))
        elif targets:
            problems.append(f"{wanted.name} points at {', '.join(targets)}")
        else:
            problems.append(f"{wanted.name} has no CNAME record")
        to_add.append(RecordToAdd("CNAME", wanted.name, _host(wanted.value), replaces=targets))
    expectation = tuple(f"CNAME {record.name} → {_host(record.value)}" for record in records)
    if not problems:
        return Check(
            CheckName.DKIM,
            CheckStatus.PASS,
            f"both DKIM CNAMEs of Mailgun's automatic sender security are in place for {expected.domain}",
            found=tuple(found),
            expected=expectation,
        )
    return Check(
        CheckName.DKIM,
        CheckStatus.FAIL,
        "the DKIM CNAMEs of Mailgun's automatic sender security are not all in place: " + "; ".join(problems),
        found=tuple(found),
        expected=expectation,
        records_to_add=tuple(to_add),
        dns_error=error,
    )


def _dkim_key(record: str) -> str:
    """The p= tag of a DKIM key record, without spaces (DNS splits long keys into strings)."""
    for tag in record.split(";"):
        name, _, value = tag.partition("=")
        if name.strip().lower() == "p":
            return re.sub(r"\s+", "", value)
    return ""


def _short(value: str) -> str:
    return value if len(value) <= 40 else f"{value[:32]}…{value[-6:]}"


# -- MX --------------------------------------------------------------------------------------------

_MX_CONSEQUENCE = (
    "without Mailgun's MX records, Mailgun does not receive the bounces sent back to this domain: bounces "
    "are not captured, so mail keeps going to dead addresses, which costs money and sender reputation"
)


def check_mx(expected: MailgunDomainRecords, lookup: Lookup) -> Check:
    domain = expected.domain
    wanted = expected.mx
    hosts = {_host(record.value) for record in wanted}
    expectation = tuple(f"MX {record.priority or '10'} {_host(record.value)}" for record in wanted)
    answer = lookup(domain, "MX")
    found = tuple(answer.records)
    missing = [record for record in wanted if _host(record.value) not in found]
    to_add = tuple(
        RecordToAdd(
            "MX",
            domain,
            _host(record.value),
            record.priority or "10",
            replaces=tuple(h for h in found if h not in hosts),
        )
        for record in missing
    )
    if answer.error is not None and not answer.error.definite:
        return Check(
            CheckName.MX,
            CheckStatus.WARN,
            f"MX could not be checked: {answer.error.describe(domain, 'MX')}",
            expected=expectation,
            records_to_add=to_add,
            dns_error=answer.error,
            details=(_MX_CONSEQUENCE,),
        )
    if not missing:
        others = [host for host in found if host not in hosts]
        return Check(
            CheckName.MX,
            CheckStatus.WARN if others else CheckStatus.PASS,
            f"Mailgun's MX records are on {domain}"
            + (f", beside others ({', '.join(others)}) that take part of its mail" if others else ""),
            found=found,
            expected=expectation,
        )
    if answer.error is not None:
        summary = f"no MX records ({answer.error.describe(domain, 'MX')})"
    elif not found:
        summary = f"no MX records on {domain}"
    else:
        summary = f"the MX records of {domain} point at {', '.join(found)}, not Mailgun"
    return Check(
        CheckName.MX,
        CheckStatus.WARN,
        f"{summary} (recommended): {_MX_CONSEQUENCE}",
        found=found,
        expected=expectation,
        records_to_add=to_add,
        dns_error=answer.error,
        details=("Replies must then go to a reply-to address on another domain: mail to this domain reaches Mailgun.",),
    )


# -- DMARC -----------------------------------------------------------------------------------------

# Public suffixes of two labels that tagmail knows. This is an approximation of the Public Suffix
# List: the organisational domain is the last two labels, or three under one of these; suffixes
# not listed here (city and prefecture domains such as tokyo.jp, most other countries' second
# levels) are treated as ordinary names.
TWO_LEVEL_SUFFIXES = frozenset(
    {
        "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "ad.jp", "ed.jp", "gr.jp", "lg.jp",
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk",
        "com.au", "net.au", "org.au", "edu.au",
        "co.nz", "co.kr", "com.cn", "com.tw", "com.hk", "com.sg", "com.br",
    }
)  # fmt: skip
_DMARC_POLICIES = ("none", "quarantine", "reject")


def organizational_domain(domain: str) -> str:
    labels = _host(domain).split(".")
    size = 3 if ".".join(labels[-2:]) in TWO_LEVEL_SUFFIXES else 2
    return ".".join(labels[-size:])


def check_dmarc(domain: str, lookup: Lookup, from_domain: str | None = None) -> Check:
    domain = _host(domain)
    organisation = organizational_domain(domain)
    to_add = RecordToAdd("TXT", f"_dmarc.{domain}", "v=DMARC1; p=none")
    expectation = (
        f"a TXT record v=DMARC1 with a policy (p=none, quarantine or reject) at _dmarc.{domain}"
        + (f" or _dmarc.{organisation}" if organisation != domain else ""),
    )
    places = [domain] + ([organisation] if organisation != domain else [])
    notes: list[str] = []
    for place in places:
        name = f"_dmarc.{place}"
        answer = lookup(name, "TXT")
        if answer.error is not None and not answer.error.definite:
            return Check(
                CheckName.DMARC,
                CheckStatus.FAIL,
                f"DMARC could not be checked: {answer.error.describe(name, 'TXT')}",
                expected=expectation,
                records_to_add=(to_add,),
                dns_error=answer.error,
            )
        records = tuple(record for record in answer.records if record.strip().upper().startswith("V=DMARC1"))
        if not records:
            notes.append(answer.error.describe(name, "TXT") if answer.error else f"{name} has no DMARC record")
            continue
        return _judge_dmarc(
            domain=domain,
            place=place,
            name=name,
            records=records,
            from_domain=from_domain,
            expectation=expectation,
            to_add=to_add,
        )
    return Check(
        CheckName.DMARC,
        CheckStatus.FAIL,
        f"no DMARC record for {domain} ({'; '.join(notes)}): Gmail, Yahoo and Outlook require one of bulk "
        "senders and reject or junk their mail without it",
        expected=expectation,
        records_to_add=(to_add,),
        dns_error=DnsError.NXDOMAIN if notes and all("NXDOMAIN" in note for note in notes) else None,
        details=("p=none is enough for the mailbox providers; it only asks for reports.",),
    )


def _judge_dmarc(
    *,
    domain: str,
    place: str,
    name: str,
    records: tuple[str, ...],
    from_domain: str | None,
    expectation: tuple[str, ...],
    to_add: RecordToAdd,
) -> Check:
    if len(records) > 1:
        return Check(
            CheckName.DMARC,
            CheckStatus.FAIL,
            f"{len(records)} DMARC records at {name}: receivers ignore them all; keep exactly one",
            found=records,
            expected=expectation,
            records_to_add=(replace(to_add, name=name, replaces=records),),
        )
    tags = _dmarc_tags(records[0])
    inherited = place != domain
    policy = tags.get("sp", tags.get("p")) if inherited else tags.get("p")
    if tags.get("p") not in _DMARC_POLICIES:
        return Check(
            CheckName.DMARC,
            CheckStatus.FAIL,
            f"the DMARC record at {name} has no valid policy (p=none, quarantine or reject)",
            found=records,
            expected=expectation,
            records_to_add=(replace(to_add, name=name, replaces=records),),
        )
    sender_domain = _host(from_domain or domain)
    # Mailgun signs with d=<sending domain> and uses it in the envelope sender (the SPF domain).
    aligned = _aligned(sender_domain, domain, tags.get("adkim", "r")) or _aligned(
        sender_domain, domain, tags.get("aspf", "r")
    )
    where = f"inherited from {name}" if inherited else f"at {name}"
    alignment = (
        f"the From domain {sender_domain} is aligned with the DKIM and SPF domain {domain}"
        if aligned
        else f"the From domain {sender_domain} is not aligned with the DKIM and SPF domain {domain}"
    )
    if not aligned:
        return Check(
            CheckName.DMARC,
            CheckStatus.FAIL,
            f"DMARC ({where}, p={policy}) fails: {alignment}; send from an address on {domain}",
            found=records,
            expected=expectation,
        )
    return Check(
        CheckName.DMARC,
        CheckStatus.PASS,
        f"DMARC policy p={policy} {where}; {alignment}",
        found=records,
        expected=expectation,
        details=("p=none only monitors; quarantine or reject protect the domain from spoofing.",)
        if policy == "none"
        else (),
    )


def _dmarc_tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            tags[name.strip().lower()] = value.strip().lower()
    return tags


def _aligned(from_domain: str, authenticated: str, mode: str) -> bool:
    if mode == "s":
        return from_domain == authenticated
    return organizational_domain(from_domain) == organizational_domain(authenticated)


# -- tracking -------------------------------------------------------------------------------------


def check_tracking(expected: MailgunDomainRecords, lookup: Lookup) -> Check:
    wanted = expected.tracking
    target = _host(wanted.value)
    answer = lookup(wanted.name, "CNAME")
    found = tuple(_host(record) for record in answer.records)
    expectation = (f"CNAME {wanted.name} → {target}",)
    to_add = RecordToAdd("CNAME", wanted.name, target, replaces=tuple(f for f in found if f != target))
    consequence = (
        f"click and open tracking rewrite links and the open pixel to {wanted.name}; without the CNAME they do "
        "not resolve, so tracked links in your mail are broken and opens are not counted (or turn tracking off)"
    )
    if target in found:
        return Check(
            CheckName.TRACKING,
            CheckStatus.PASS,
            f"the tracking host {wanted.name} points at Mailgun",
            found=found,
            expected=expectation,
        )
    if answer.error is not None and not answer.error.definite:
        summary = f"the tracking CNAME could not be checked: {answer.error.describe(wanted.name, 'CNAME')}"
    elif answer.error is not None:
        summary = f"no tracking CNAME ({answer.error.describe(wanted.name, 'CNAME')})"
    elif found:
        summary = f"{wanted.name} points at {', '.join(found)}, not Mailgun's {target}"
    else:
        summary = f"{wanted.name} has no CNAME record"
    return Check(
        CheckName.TRACKING,
        CheckStatus.FAIL,
        f"{summary}: {consequence}",
        found=found,
        expected=expectation,
        records_to_add=(to_add,),
        dns_error=answer.error,
    )


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


# -- when sending opens ---------------------------------------------------------------------------

DEFAULT_SENDING_WAIT_HOURS = 48


@dataclass(frozen=True)
class DomainReadiness:
    """What the send path needs to know, kept on the project: since when the required records have
    passed without a break (None: not passing now, or never checked conclusively)."""

    domain: str
    checked_at: datetime
    passing_since: datetime | None = None
    # Required checks that failed at the last check that could tell (DNS answered).
    failing: tuple[CheckName, ...] = field(default=())

    def opens_at(self, wait_hours: int) -> datetime | None:
        return self.passing_since + timedelta(hours=wait_hours) if self.passing_since else None


def next_readiness(previous: DomainReadiness | None, report: ReadinessReport) -> DomainReadiness:
    """The state after a check. A required record that breaks resets the first-seen time; a check
    that DNS could not answer keeps what was known (a timeout is not a broken record)."""
    if previous is not None and previous.domain != report.domain:
        previous = None  # another domain: nothing known about it yet
    failing = report.failing
    if failing:
        return DomainReadiness(report.domain, report.checked_at, None, failing)
    if report.inconclusive:
        if previous is None:
            return DomainReadiness(report.domain, report.checked_at)
        return replace(previous, checked_at=report.checked_at)
    since = previous.passing_since if previous is not None and previous.passing_since else report.checked_at
    return DomainReadiness(report.domain, report.checked_at, since, ())


def newly_broken(previous: DomainReadiness | None, current: DomainReadiness) -> tuple[CheckName, ...]:
    """Required checks failing now that passed at the last check of the same domain: a record that
    broke (a domain still being set up has nothing that broke)."""
    if previous is None or previous.domain != current.domain:
        return ()
    passed_before = previous.passing_since is not None
    return tuple(
        name for name in current.failing if name not in previous.failing and (passed_before or previous.failing)
    )


def closed_reason(readiness: DomainReadiness | None, domain: str | None, wait_hours: int, now: datetime) -> str | None:
    """Why sending is not open yet (`domain_not_ready:<what>`), or None when it is."""
    if readiness is None or domain is None or readiness.domain != _host(domain):
        return "domain_not_ready:unchecked"
    if readiness.failing:
        return "domain_not_ready:" + "+".join(sorted(name.value for name in readiness.failing))
    opens = readiness.opens_at(wait_hours)
    if opens is None:
        return "domain_not_ready:unchecked"
    if now < opens:
        return "domain_not_ready:waiting"
    return None


def names(checks: Iterable[CheckName]) -> str:
    return ", ".join(check.value.upper() for check in checks)
