"""A real DNS server on 127.0.0.1 for the readiness tests (dnslib), serving zones written like zone
files, and the zones of a sending domain as Mailgun asks for them: correct, or broken one way.

Unlike dnslib's own ZoneResolver, the server answers as an authoritative server does: NXDOMAIN
only for names that do not exist, an empty NOERROR answer for names that exist with other types,
and SERVFAIL for names with a "servfail" label (a broken server)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSServer

from local.mailgun_sandbox.domains import Domain
from tagmail.domain.dns_readiness import MailgunDomainRecords

# What Mailgun's own names publish (trimmed): SPF includes resolve through them.
MAILGUN_ZONE = """
mailgun.org.            300 IN TXT "v=spf1 include:_spf.mailgun.org ~all"
_spf.mailgun.org.       300 IN TXT "v=spf1 ip4:198.61.254.0/23 ip4:209.61.151.0/24 ~all"
eu.mailgun.org.         300 IN TXT "v=spf1 include:_spf.eu.mailgun.org ~all"
_spf.eu.mailgun.org.    300 IN TXT "v=spf1 ip4:185.250.236.0/22 ~all"
"""


class ZoneFileResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: str) -> None:
        self.records = RR.fromZone(zone)

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname = request.q.qname
        qtype = QTYPE[request.q.qtype]
        if "servfail" in str(qname).split("."):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        at_name = [rr for rr in self.records if rr.rname == qname]
        answers = [
            rr for rr in at_name if QTYPE[rr.rtype] == qtype or (QTYPE[rr.rtype] == "CNAME" and qtype != "CNAME")
        ]
        for rr in answers:
            reply.add_answer(rr)
        below = any(rr.rname != qname and rr.rname.matchSuffix(qname) for rr in self.records)
        if not at_name and not below:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@contextmanager
def zone_server(resolver: ZoneFileResolver) -> Iterator[tuple[str, int]]:
    """Serve `resolver` over UDP on a free 127.0.0.1 port; its records may change while it runs."""
    server = DNSServer(resolver, address="127.0.0.1", port=0, tcp=False, logger=_Quiet())
    server.start_thread()
    try:
        yield "127.0.0.1", server.server.server_address[1]
    finally:
        server.stop()


@contextmanager
def dns_server(zone: str) -> Iterator[tuple[str, int]]:
    """Serve `zone` (plus Mailgun's names)."""
    with zone_server(ZoneFileResolver(MAILGUN_ZONE + zone)) as address:
        yield address


@contextmanager
def silent_server() -> Iterator[tuple[str, int]]:
    """A bound UDP port that never answers (a DNS server that times out)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        yield silent.getsockname()
    finally:
        silent.close()


@dataclass(frozen=True)
class SendingDomain:
    """A sending domain as the Mailgun sandbox describes it, and zone lines that publish its records."""

    name: str
    region: str = "us"
    dkim_selector: str = "k1"
    dkim_key_size: int = 1024
    automatic_sender_security: bool = False

    @property
    def mailgun(self) -> dict[str, Any]:
        domain = Domain(
            name=self.name,
            region=self.region,
            dkim_selector=self.dkim_selector,
            dkim_key_size=self.dkim_key_size,
            use_automatic_sender_security=self.automatic_sender_security,
        )
        # Fixed id: the CNAME targets of automatic sender security name it.
        domain.id = "0123456789abcdef01234567"
        return domain.with_records()

    @property
    def expected(self) -> MailgunDomainRecords:
        return MailgunDomainRecords.from_mailgun(self.name, self.mailgun)

    def record(self, purpose: str) -> dict[str, Any]:
        """One of Mailgun's records: "spf", "dkim" (the first), "tracking", "mx"."""
        sending = self.mailgun["sending_dns_records"]
        if purpose == "spf":
            return next(r for r in sending if r["value"].startswith("v=spf1"))
        if purpose == "dkim":
            return next(r for r in sending if "._domainkey." in r["name"])
        if purpose == "tracking":
            return next(r for r in sending if r["record_type"] == "CNAME" and "._domainkey." not in r["name"])
        return self.mailgun["receiving_dns_records"][0]

    def zone(
        self, *, spf: bool = True, dkim: bool = True, mx: bool = True, dmarc: bool = True, tracking: bool = True
    ) -> str:
        """Zone lines publishing Mailgun's records (and a DMARC record); False leaves one out."""
        return mailgun_zone(self.mailgun, spf=spf, dkim=dkim, mx=mx, dmarc=dmarc, tracking=tracking)


def mailgun_zone(
    info: dict[str, Any],
    *,
    spf: bool = True,
    dkim: bool = True,
    mx: bool = True,
    dmarc: bool = True,
    tracking: bool = True,
) -> str:
    """Zone lines publishing the records of Mailgun's answer for a domain (GET /v4/domains/{d}) and
    a DMARC record; False leaves one out."""
    name = info["domain"]["name"]
    lines = []
    for record in info["sending_dns_records"]:
        kind = record["record_type"]
        is_dkim = "._domainkey." in record["name"]
        if (kind == "TXT" and not is_dkim and not spf) or (is_dkim and not dkim):
            continue
        if kind == "CNAME" and not is_dkim and not tracking:
            continue
        lines.append(_line(kind, record["name"], record["value"]))
    if mx:
        for record in info["receiving_dns_records"]:
            lines.append(f"{name}. 300 IN MX {record['priority']} {record['value']}.")
    if dmarc:
        lines.append(_line("TXT", f"_dmarc.{name}", "v=DMARC1; p=none"))
    # The name itself exists even when every record on it is left out.
    lines.append(f"www.{name}. 300 IN A 192.0.2.1")
    return "\n".join(lines) + "\n"


def _line(kind: str, name: str, value: str) -> str:
    if kind == "TXT":
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
        data = " ".join(f'"{chunk}"' for chunk in chunks)
    else:
        data = f"{value}."
    return f"{name}. 300 IN {kind} {data}"


def txt(name: str, value: str) -> str:
    return _line("TXT", name, value) + "\n"


def cname(name: str, target: str) -> str:
    return _line("CNAME", name, target) + "\n"


def without(zone: str, fragment: str) -> str:
    return "\n".join(line for line in zone.splitlines() if fragment not in line) + "\n"
