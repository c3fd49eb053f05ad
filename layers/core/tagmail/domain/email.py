"""E-mail address validation and the canonical form used for lookups."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_LENGTH = 64

# Dot-atom local part (RFC 5322) plus non-ASCII characters (RFC 6531); quoted local parts are
# refused because mailbox providers and Mailgun reject most of them anyway.
_LOCAL_PART = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+)*$"
)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TOP_LEVEL = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


@dataclass(frozen=True)
class EmailAddress:
    given: str
    canonical: str

    @property
    def domain(self) -> str:
        return self.canonical.rsplit("@", 1)[1]


class InvalidEmail(ValueError):
    pass


def parse_email(value: str) -> EmailAddress:
    """Validate an address; raise InvalidEmail saying what is wrong with it."""
    given = value.strip()
    if not given:
        raise InvalidEmail("is empty")
    if len(given) > MAX_ADDRESS_LENGTH:
        raise InvalidEmail(f"is longer than {MAX_ADDRESS_LENGTH} characters")
    if given.count("@") != 1:
        raise InvalidEmail("must contain exactly one @")
    local, domain = given.split("@")
    if not local or len(local) > MAX_LOCAL_LENGTH or not _LOCAL_PART.match(local):
        raise InvalidEmail("has an invalid part before the @")
    ascii_domain = _ascii_domain(domain)
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidEmail("has an invalid domain")
    if not _TOP_LEVEL.match(labels[-1]):
        raise InvalidEmail("has an invalid top-level domain")
    return EmailAddress(given=given, canonical=f"{local.lower()}@{domain.lower().rstrip('.')}")


def _ascii_domain(domain: str) -> str:
    try:
        return domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidEmail("has an invalid domain") from exc
