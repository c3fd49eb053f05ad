"""Sending domains: Mailgun's domain object and the DNS records it asks for (US or EU region)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

STATES = ("active", "unverified", "disabled")
REGIONS = ("us", "eu")
DEFAULT_DKIM_SELECTOR = "k1"
DEFAULT_MESSAGE_TTL = 3 * 24 * 3600  # stored messages are kept 72 h

# SubjectPublicKeyInfo prefixes of RSA keys of 1024 and 2048 bits (modulus follows, then 65537).
_SPKI_PREFIX = {
    1024: bytes.fromhex("30819f300d06092a864886f70d010101050003818d0030818902818100"),
    2048: bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100"),
}
_DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)
_SELECTOR = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")  # an RFC 2822 atom: no dots


def valid_domain_name(name: str) -> bool:
    return bool(_DOMAIN_NAME.match(name))


def valid_dkim_selector(selector: str) -> bool:
    return bool(_SELECTOR.match(selector))


def rfc1123(moment: datetime) -> str:
    """``Thu, 13 Oct 2011 18:02:00 GMT``, the form Mailgun's domain objects use."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _dkim_public_key(domain: str, bits: int) -> str:
    # A stable, well-formed RSA public key per domain; nothing ever verifies a signature with it.
    size = bits // 8
    modulus = b""
    counter = 0
    while len(modulus) < size:
        modulus += hashlib.sha256(f"{domain}:{bits}:{counter}".encode()).digest()
        counter += 1
    modulus = bytes([modulus[0] | 0x80]) + modulus[1:size]
    return base64.b64encode(_SPKI_PREFIX[bits] + modulus + bytes.fromhex("0203010001")).decode()


@dataclass
class Domain:
    name: str
    state: str = "unverified"
    region: str = "us"
    id: str = field(default_factory=lambda: secrets.token_hex(12))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    smtp_password: str | None = None
    spam_action: str = "disabled"
    web_scheme: str = "http"
    web_prefix: str = "email"
    wildcard: bool = False
    require_tls: bool = False
    skip_verification: bool = False
    use_automatic_sender_security: bool = False
    encrypt_incoming_message: bool = False
    message_ttl: int = DEFAULT_MESSAGE_TTL
    dkim_selector: str = DEFAULT_DKIM_SELECTOR
    dkim_key_size: int = 1024
    type: str = "custom"
    # Domain tracking settings (GET/PUT /v3/domains/{d}/tracking); messages' o:tracking* override them.
    tracking_open: bool = True
    tracking_click: bool = True
    tracking_unsubscribe: bool = False

    @property
    def mailgun_host(self) -> str:
        return "eu.mailgun.org" if self.region == "eu" else "mailgun.org"

    @property
    def is_disabled(self) -> bool:
        return self.state == "disabled"

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "created_at": rfc1123(self.created_at),
            "id": self.id,
            "is_disabled": self.is_disabled,
            "name": self.name,
            "require_tls": self.require_tls,
            "skip_verification": self.skip_verification,
            "smtp_login": f"postmaster@{self.name}",
            "spam_action": self.spam_action,
            "state": self.state,
            "type": self.type,
            "use_automatic_sender_security": self.use_automatic_sender_security,
            "web_prefix": self.web_prefix,
            "web_scheme": self.web_scheme,
            "wildcard": self.wildcard,
            "encrypt_incoming_message": self.encrypt_incoming_message,
            "message_ttl": self.message_ttl,
        }
        if self.is_disabled:
            document["disabled"] = {"code": "manual", "note": "", "permanently": False, "reason": "disabled"}
        return document

    def _record(self, record_type: str, name: str, value: str, priority: str | None = None) -> dict[str, Any]:
        live = self.state == "active"
        record: dict[str, Any] = {
            "record_type": record_type,
            "name": name,
            "value": value,
            "valid": "valid" if live else "unknown",
            "is_active": live,
            "cached": ([f"{priority} {value}" if priority else value] if live else []),
        }
        if priority is not None:
            record["priority"] = priority
        return record

    def sending_dns_records(self) -> list[dict[str, Any]]:
        if self.use_automatic_sender_security:
            dkim = [
                self._record("CNAME", f"{key}._domainkey.{self.name}", f"{key}._domainkey.{self.id}.dkim1.mailgun.com")
                for key in ("pdk1", "pdk2")
            ]
        else:
            dkim = [
                self._record(
                    "TXT",
                    f"{self.dkim_selector}._domainkey.{self.name}",
                    f"k=rsa; p={_dkim_public_key(self.name, self.dkim_key_size)}",
                )
            ]
        return [
            self._record("TXT", self.name, f"v=spf1 include:{self.mailgun_host} ~all"),
            *dkim,
            self._record("CNAME", f"{self.web_prefix}.{self.name}", self.mailgun_host),
        ]

    def receiving_dns_records(self) -> list[dict[str, Any]]:
        prefix = "eu." if self.region == "eu" else ""
        return [self._record("MX", self.name, f"{mx}.{prefix}mailgun.org", "10") for mx in ("mxa", "mxb")]

    def with_records(self) -> dict[str, Any]:
        return {
            "domain": self.as_json(),
            "receiving_dns_records": self.receiving_dns_records(),
            "sending_dns_records": self.sending_dns_records(),
        }

    def tracking_json(self) -> dict[str, Any]:
        return {
            "tracking": {
                "open": {"active": self.tracking_open},
                "click": {"active": self.tracking_click},
                "unsubscribe": {"active": self.tracking_unsubscribe, "html_footer": "", "text_footer": ""},
            }
        }
