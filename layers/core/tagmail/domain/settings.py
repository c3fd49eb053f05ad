"""A project's mail settings (as the product defines them) and the secrets kept apart from them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MailgunRegion(StrEnum):
    US = "us"
    EU = "eu"

    @property
    def api_base_url(self) -> str:
        return "https://api.eu.mailgun.net" if self is MailgunRegion.EU else "https://api.mailgun.net"


@dataclass(frozen=True)
class MailSettings:
    """Settings a project's admins change through the admin API; nothing secret lives here."""

    enabled: bool = True
    sending_domain: str | None = None
    sender_name: str | None = None
    sender_address: str | None = None
    reply_to: str | None = None
    disable_click_tracking: bool = False
    disable_open_tracking: bool = False
    # Hours sending waits after the domain's SPF and DKIM were first seen passing (product rule: 48).
    sending_wait_hours: int = 48
    notification_address: str | None = None
    mailgun_region: MailgunRegion = MailgunRegion.US
    # Another API base (a Mailgun-compatible sandbox); None means the region's real Mailgun.
    mailgun_base_url: str | None = None
    # The sender's identity shown in every marketing mail (required by Japanese law on marketing mail).
    postal_address: str | None = None
    default_locale: str = "ja"
    timezone: str = "Asia/Tokyo"

    @property
    def api_base_url(self) -> str:
        return (self.mailgun_base_url or self.mailgun_region.api_base_url).rstrip("/")

    @property
    def ready_to_send(self) -> bool:
        return bool(self.enabled and self.sending_domain and self.sender_address)


@dataclass(frozen=True)
class ProjectSecrets:
    """Kept in SSM Parameter Store (SecureString), never in DynamoDB items, logs or responses."""

    unsubscribe_secret: str
    mailgun_api_key: str | None = None
    webhook_signing_key: str | None = None

    def __repr__(self) -> str:
        return "ProjectSecrets(<redacted>)"
