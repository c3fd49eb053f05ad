"""A project's mail settings (as the product defines them) and the secrets kept apart from them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tagmail.errors import InvalidInput

# Highest value a sending limit accepts (a typo of extra zeros is refused, not obeyed).
MAX_LIMIT = 1_000_000_000
MAX_PER_SECOND = 10_000


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
    # Sending limits; None means none. Sends are counted per recipient. At 100 % of the monthly
    # limit (a calendar month in `timezone`) sending stops until the next month or a raised limit,
    # unless overage is allowed; the 24-hour and per-second limits defer sends, never drop them.
    monthly_limit: int | None = None
    daily_limit: int | None = None
    per_second_limit: int | None = None
    allow_overage: bool = False

    @property
    def api_base_url(self) -> str:
        return (self.mailgun_base_url or self.mailgun_region.api_base_url).rstrip("/")

    @property
    def ready_to_send(self) -> bool:
        return bool(self.enabled and self.sending_domain and self.sender_address)


def check_limits(settings: MailSettings) -> None:
    """InvalidInput naming the sending limit that is not a whole number in its range."""
    for field, highest in (
        ("monthly_limit", MAX_LIMIT),
        ("daily_limit", MAX_LIMIT),
        ("per_second_limit", MAX_PER_SECOND),
    ):
        value = getattr(settings, field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest):
            raise InvalidInput(f"must be a whole number from 1 to {highest}, or null for no limit", field=field)


@dataclass(frozen=True)
class ProjectSecrets:
    """Kept in SSM Parameter Store (SecureString), never in DynamoDB items, logs or responses."""

    unsubscribe_secret: str
    mailgun_api_key: str | None = None
    webhook_signing_key: str | None = None

    def __repr__(self) -> str:
        return "ProjectSecrets(<redacted>)"
