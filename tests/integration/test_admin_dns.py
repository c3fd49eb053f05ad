"""The MX lookup against a real DNS server on 127.0.0.1 (dnslib serving a zone): an answer, a
definite "none", and failures that are reported instead of read as "no MX"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import RCODE
from dnslib.server import DNSServer
from dnslib.zoneresolver import ZoneResolver

from tagmail.adapters.dns import DnsMxLookup
from tagmail.errors import DependencyUnavailable

pytestmark = pytest.mark.integration

ZONE = """
mail.shop.test.        300 IN MX 10 mxa.mailgun.org.
mail.shop.test.        300 IN MX 20 mxb.mailgun.org.
mail.shop.test.        300 IN TXT "v=spf1 include:mailgun.org ~all"
nomx.shop.test.        300 IN TXT "v=spf1 include:mailgun.org ~all"
nullmx.shop.test.      300 IN MX 0 .
"""


class ShopZone(ZoneResolver):  # type: ignore[misc]
    """The zone above, and a name whose server always fails."""

    def resolve(self, request: Any, handler: Any) -> Any:
        if str(request.q.qname).startswith("broken."):
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        return super().resolve(request, handler)


@pytest.fixture(scope="module")
def dns_server() -> Iterator[tuple[str, int]]:
    server = DNSServer(ShopZone(ZONE), address="127.0.0.1", port=0, tcp=False, logger=_Quiet())
    server.start_thread()
    try:
        yield "127.0.0.1", server.server.server_address[1]
    finally:
        server.stop()


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def lookup(server: tuple[str, int], timeout: float = 2.0) -> DnsMxLookup:
    host, port = server
    return DnsMxLookup(nameservers=[host], port=port, timeout_seconds=timeout)


def test_mx_hosts_are_returned_sorted(dns_server: tuple[str, int]) -> None:
    assert lookup(dns_server).mx_hosts("mail.shop.test") == ("mxa.mailgun.org", "mxb.mailgun.org")


def test_a_name_without_mx_records_has_none(dns_server: tuple[str, int]) -> None:
    assert lookup(dns_server).mx_hosts("nomx.shop.test") == ()


def test_a_name_that_does_not_exist_has_none(dns_server: tuple[str, int]) -> None:
    assert lookup(dns_server).mx_hosts("missing.shop.test") == ()


def test_a_null_mx_is_still_an_mx_record(dns_server: tuple[str, int]) -> None:
    assert lookup(dns_server).mx_hosts("nullmx.shop.test") == (".",)


def test_a_failing_server_is_reported(dns_server: tuple[str, int]) -> None:
    with pytest.raises(DependencyUnavailable, match=r"broken\.shop\.test"):
        lookup(dns_server).mx_hosts("broken.shop.test")


def test_a_server_that_does_not_answer_is_reported() -> None:
    # A bound UDP socket that never answers.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(DependencyUnavailable, match=r"timed out|no DNS server"):
            lookup(silent.getsockname(), timeout=0.5).mx_hosts("mail.shop.test")
    finally:
        silent.close()
