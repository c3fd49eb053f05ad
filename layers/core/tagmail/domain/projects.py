"""Projects (one site each) and the keys that act for them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tagmail.domain.dns_readiness import DomainReadiness
from tagmail.domain.settings import MailSettings


class KeyKind(StrEnum):
    WRITE = "write"
    ADMIN = "admin"


_PREFIX = {KeyKind.WRITE: "wk_", KeyKind.ADMIN: "ak_"}


@dataclass(frozen=True)
class Project:
    project_id: str
    name: str
    created_at: datetime
    settings: MailSettings = field(default_factory=MailSettings)
    # The sending domain's last readiness check (written only by the check, read by the send gate).
    domain_readiness: DomainReadiness | None = None


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: only its hash is kept, never the key itself."""

    key_hash: str
    project_id: str
    kind: KeyKind
    created_at: datetime


def new_project_id() -> str:
    return f"p{secrets.token_hex(8)}"


def new_key(kind: KeyKind) -> str:
    return _PREFIX[kind] + secrets.token_urlsafe(24 if kind is KeyKind.WRITE else 32)


def hash_key(key: str) -> str:
    # Keys are long random strings, so a plain (unsalted) hash is enough to make a leaked table useless.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
