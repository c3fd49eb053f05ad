"""DNS lookups with dnspython: a domain's MX hosts, and the TXT, CNAME and MX answers the domain
readiness check reads.

A definite answer ("no such domain", "no MX record") is an empty result; a lookup that gets no
answer (timeout, SERVFAIL, no reachable server) is an error, never read as "no MX".
"""

from __future__ import annotations

import dns.exception
import dns.name
import dns.resolver

from tagmail.domain.dns_readiness import DnsAnswer, DnsError
from tagmail.errors import DependencyUnavailable, InvalidInput

DEFAULT_TIMEOUT = 4.0


class DnsMxLookup:
    """`nameservers`/`port` point the resolver at given servers (a test's DNS server on 127.0.0.1);
    without them the system's resolver configuration is used."""

    def __init__(
        self, nameservers: list[str] | None = None, port: int = 53, timeout_seconds: float = DEFAULT_TIMEOUT
    ) -> None:
        self._nameservers = nameservers
        self._port = port
        self._timeout = timeout_seconds

    def mx_hosts(self, domain: str) -> tuple[str, ...]:
        resolver = self._resolver()
        try:
            answer = resolver.resolve(domain, "MX", lifetime=self._timeout, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return ()
        except dns.name.EmptyLabel as exc:
            raise InvalidInput(f"{domain!r} is not a domain name", field="sending_domain") from exc
        except dns.exception.Timeout as exc:
            raise DependencyUnavailable(f"the DNS lookup of {domain}'s MX records timed out") from exc
        except dns.resolver.NoNameservers as exc:
            raise DependencyUnavailable(f"no DNS server answered the lookup of {domain}'s MX records") from exc
        except dns.exception.DNSException as exc:
            raise DependencyUnavailable(
                f"the DNS lookup of {domain}'s MX records failed ({type(exc).__name__})"
            ) from exc
        # A null MX (RFC 7505: the domain takes no mail) is the root name, shown as ".".
        return tuple(sorted(str(record.exchange).rstrip(".").lower() or "." for record in answer))

    def _resolver(self) -> dns.resolver.Resolver:
        if self._nameservers is None:
            return dns.resolver.Resolver()
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(self._nameservers)
        resolver.port = self._port
        return resolver


_RECORD_TYPES = frozenset({"TXT", "CNAME", "MX"})


class DnsRecordLookup(DnsMxLookup):
    """TXT, CNAME and MX answers with the failure named (`DnsAnswer.error`) instead of raised: the
    readiness report says which lookup failed and how. Same resolver settings as the MX lookup."""

    def lookup(self, name: str, record_type: str) -> DnsAnswer:
        if record_type not in _RECORD_TYPES:
            raise ValueError(f"unsupported record type {record_type}")
        try:
            answer = self._resolver().resolve(
                name, record_type, lifetime=self._timeout, search=False, raise_on_no_answer=False
            )
        except dns.exception.DNSException as exc:
            return DnsAnswer(error=_failure(exc))
        if answer.rrset is None:
            return DnsAnswer()
        return DnsAnswer(tuple(_text(record_type, record) for record in answer.rrset))


def _text(record_type: str, record: object) -> str:
    if record_type == "TXT":
        # One record may be several strings (each at most 255 bytes); they form one value.
        return b"".join(getattr(record, "strings", ())).decode("utf-8", "replace")
    if record_type == "MX":
        return str(getattr(record, "exchange", "")).rstrip(".").lower() or "."
    return str(getattr(record, "target", "")).rstrip(".").lower()


def _failure(exc: dns.exception.DNSException) -> DnsError:
    if isinstance(exc, dns.resolver.NXDOMAIN | dns.name.EmptyLabel | dns.name.LabelTooLong | dns.name.NameTooLong):
        return DnsError.NXDOMAIN  # no such name exists (or can exist)
    if isinstance(exc, dns.exception.Timeout):
        return DnsError.TIMEOUT
    # Every server failed: say what they answered, when they answered.
    text = str(exc) if isinstance(exc, dns.resolver.NoNameservers) else ""
    if "SERVFAIL" in text:
        return DnsError.SERVFAIL
    if "REFUSED" in text:
        return DnsError.REFUSED
    return DnsError.UNREACHABLE
