"""What the services need from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from tagmail.domain.campaigns import Campaign, CampaignStatus
from tagmail.domain.dns_readiness import DnsAnswer, DomainReadiness, ReadinessReport
from tagmail.domain.mail import Envelope
from tagmail.domain.projects import ApiKey, Project
from tagmail.domain.sending import MessageRecord, SendRequest
from tagmail.domain.settings import MailSettings, ProjectSecrets
from tagmail.domain.stats import Counter
from tagmail.domain.suppressions import Suppression
from tagmail.domain.templates import Footer, MailContent, RenderedMail, Template, TemplateVersion
from tagmail.domain.tracking import StoredEvent, TrackingMessage
from tagmail.domain.triggers import CampaignEntry
from tagmail.domain.users import UserProfile

Clock = Callable[[], datetime]


class ApiKeyRepository(Protocol):
    def get(self, key_hash: str) -> ApiKey | None: ...

    def add(self, key: ApiKey) -> None: ...


class ProjectRepository(Protocol):
    def get(self, project_id: str) -> Project | None: ...

    def add(self, project: Project) -> None: ...

    def update(self, project: Project) -> None: ...

    def project_for_domain(self, domain: str) -> str | None: ...


class ProjectDirectory(Protocol):
    def all(self) -> Iterator[Project]:
        """Every project (schedules that look at each one)."""
        ...


class UserRepository(Protocol):
    def get(self, project_id: str, key: str, consistent: bool = False) -> UserProfile | None: ...

    def save(self, profile: UserProfile, expected: UserProfile | None) -> bool:
        """Write `profile` if the stored item is still `expected` (None: does not exist yet).
        Returns False when another writer got there first."""
        ...


class EventRepository(Protocol):
    def add_once(self, project_id: str, message: TrackingMessage, expires_at: datetime) -> bool:
        """Store the event unless (project, actor, messageId) is stored already; True if stored."""
        ...


class SecretStore(Protocol):
    def get(self, project_id: str) -> ProjectSecrets | None: ...

    def put(self, project_id: str, secrets: ProjectSecrets) -> None: ...


class SuppressionRepository(Protocol):
    def get(self, project_id: str, address: str) -> Suppression | None: ...

    def add(self, suppression: Suppression) -> None: ...


class MessageRepository(Protocol):
    def get(self, project_id: str, send_key: str) -> MessageRecord | None: ...

    def reserve(self, record: MessageRecord) -> MessageRecord | None:
        """Write the record if its send key is new (the dedupe gate); the stored record, or None."""
        ...

    def save(self, record: MessageRecord) -> MessageRecord | None:
        """Write if the stored record is still at `record.revision`; the stored record, or None
        when another writer moved it on."""
        ...


class StatsRepository(Protocol):
    def add(self, project_id: str, campaign_id: str, variant: str, counts: Mapping[Counter, int]) -> None: ...


class UsageStore(Protocol):
    """Sending counts per project and period ("m#<month>", "h#<UTC hour>", "s#<second>")."""

    def add(self, project_id: str, period: str, count: int, *, at_most: int | None, expires_at: datetime) -> int | None:
        """Add `count` atomically unless the total would pass `at_most` (None: no bound); the new
        total, or None when the bound refused it (nothing was added)."""
        ...

    def subtract(self, project_id: str, period: str, count: int) -> None: ...

    def sent(self, project_id: str, first: str, last: str) -> dict[str, int]:
        """The count of each stored period from `first` to `last` (inclusive, read consistently)."""
        ...

    def notices(self, project_id: str, month_period: str) -> dict[int, datetime]:
        """When each threshold's notice of the month was queued."""
        ...

    def mark_notice(self, project_id: str, month_period: str, percent: int, at: datetime) -> None:
        """Note when the threshold's notice was queued (the first time noted is kept)."""
        ...


class IdempotencyStore(Protocol):
    def claim(self, key: str, until: datetime) -> bool:
        """True the first time `key` is claimed; False while an earlier claim is kept."""
        ...

    def release(self, key: str) -> None: ...


class TemplateRepository(Protocol):
    def get_version(self, project_id: str, template_id: str, version: int | None) -> TemplateVersion | None:
        """A template's version (None: its latest)."""
        ...


class Renderer(Protocol):
    def render(self, content: MailContent, variables: Mapping[str, Any], *, footer: Footer | None) -> RenderedMail: ...


class Mailer(Protocol):
    def send(self, envelope: Envelope) -> str:
        """Hand the mail to the provider; returns its message id."""
        ...

    def find_accepted(self, envelope: Envelope, since: datetime) -> str | None:
        """The provider's id of this very mail if it accepted it since `since` (crash recovery)."""
        ...


MailerFactory = Callable[[MailSettings, ProjectSecrets], Mailer]


class DeadLetters(Protocol):
    def bury(self, body: str, reason: str) -> None: ...


# -- Admin API ---------------------------------------------------------------------------------


class TemplateStore(TemplateRepository, Protocol):
    def get(self, project_id: str, template_id: str) -> Template | None: ...

    def list(self, project_id: str) -> list[Template]: ...

    def add_version(self, project_id: str, template: Template, version: TemplateVersion) -> None:
        """Write a new version and move the template's latest pointer; Conflict if another writer
        added that version number first (a version is never overwritten)."""
        ...


class TemplateChecker(Protocol):
    def validate(self, content: MailContent) -> None:
        """Raise InvalidTemplate naming the part (and line) that cannot be compiled."""
        ...


class SuppressionStore(SuppressionRepository, Protocol):
    def remove(self, project_id: str, address: str) -> bool: ...

    def list(self, project_id: str, after: str | None = None, limit: int = 100) -> tuple[list[Suppression], str | None]:
        """A page of suppressions in address order, and the address to continue after (None: the end)."""
        ...


class CampaignStats(Protocol):
    def of_campaign(self, project_id: str, campaign_id: str) -> dict[str, dict[Counter, int]]: ...


class SendQueue(Protocol):
    def enqueue(self, request: SendRequest, delay_seconds: int = 0) -> None: ...


class MxLookup(Protocol):
    def mx_hosts(self, domain: str) -> tuple[str, ...]:
        """The domain's MX hosts (empty: none); DependencyUnavailable when DNS gives no answer."""
        ...


class MailgunDomains(Protocol):
    """Mailgun's domain and webhook management calls (MailgunClient implements them)."""

    def get_domain(self, domain: str) -> dict[str, Any] | None: ...

    def create_domain(self, domain: str) -> dict[str, Any]: ...

    def webhooks(self, domain: str) -> dict[str, list[str]]: ...

    def set_webhook(self, domain: str, kind: str, urls: list[str], exists: bool) -> None: ...


# Builds the management client for a project's Mailgun account: (API base URL, API key).
MailgunDomainsFactory = Callable[[str, str], MailgunDomains]


# -- sending domain readiness ---------------------------------------------------------------------


class DnsLookup(Protocol):
    def lookup(self, name: str, record_type: str) -> DnsAnswer:
        """The TXT, CNAME or MX records at `name`; a failed lookup is named in the answer, never raised."""
        ...


class DomainReadinessStore(Protocol):
    def save(self, project_id: str, readiness: DomainReadiness, report: ReadinessReport) -> None:
        """Write the check's state (which the send gate reads) and its report onto the project,
        together and changing nothing else of it."""
        ...

    def last_report(self, project_id: str) -> ReadinessReport | None: ...

    def project_ids_with_domain(self) -> list[str]:
        """Every project that has a sending domain (the daily re-check)."""
        ...


# -- Campaigns ---------------------------------------------------------------------------------


class CampaignRepository(Protocol):
    def get(self, project_id: str, campaign_id: str) -> Campaign | None: ...

    def list(self, project_id: str, status: CampaignStatus | None = None) -> list[Campaign]: ...


class CampaignStore(CampaignRepository, Protocol):
    def add(self, campaign: Campaign) -> Campaign:
        """Write a new campaign (Conflict if its id is taken); the stored campaign."""
        ...

    def save(self, campaign: Campaign) -> Campaign | None:
        """Write if the stored campaign is still at `campaign.revision`; the stored campaign, or
        None when another writer moved it on."""
        ...


class DelayedSends(Protocol):
    """Send requests that wait until they are due, then go on the send queue."""

    def start(self, name: str, due_at: datetime, request: SendRequest) -> str:
        """Schedule `request`; the pending send's id. A name started before is not started
        again: its id is returned."""
        ...

    def stop(self, execution_id: str) -> None:
        """Cancel a pending send; one that ended already needs nothing."""
        ...


class CampaignEntries(Protocol):
    """Users' entries into trigger campaigns, each written once with its counters."""

    def record(self, entry: CampaignEntry, counts: Mapping[Counter, int], expires_at: datetime) -> bool:
        """Write the entry and add `counts` at once; False (nothing added) if it exists already."""
        ...

    def of_user(self, project_id: str, user_key: str) -> list[CampaignEntry]: ...

    def pending_of_campaign(
        self, project_id: str, campaign_id: str, after: datetime, limit: int
    ) -> list[CampaignEntry]:
        """The campaign's entries with a send still pending after `after`, soonest first."""
        ...

    def cancel(self, entry: CampaignEntry, reason: str, counts: Mapping[Counter, int]) -> bool:
        """Mark a scheduled (or held-out) entry cancelled and add `counts` at once; False if it was not."""
        ...

    def convert(
        self, entry: CampaignEntry, by: str, at: datetime, revenue: float, counts: Mapping[Counter, int]
    ) -> bool:
        """Note that event `by` converted the entry, adding `counts` and `revenue` at once; False
        if it converted before."""
        ...


class CampaignFigures(Protocol):
    def of_campaign(self, project_id: str, campaign_id: str) -> dict[str, dict[str, float]]:
        """Each group's counters (by Counter value) and "revenue"."""
        ...


class FrequencyCaps(Protocol):
    def claim(self, key: str, holder: str, now: datetime, until: datetime) -> bool:
        """Hold `key` for `holder` until `until`; True if it was free, expired or held by `holder`."""
        ...

    def release(self, key: str, holder: str) -> None:
        """Free `key` if `holder` holds it."""
        ...

    def take_slot(self, key: str, member: str, limit: int, until: datetime) -> bool:
        """Count `member` under `key` unless `limit` others are counted; counted before is True."""
        ...

    def give_back_slot(self, key: str, member: str) -> None: ...


class EventHistory(Protocol):
    def since(self, project_id: str, actor: str, names: Collection[str], since: str) -> list[StoredEvent]:
        """The actor's track events named in `names` stamped at or after `since` (ISO 8601, Z)."""
        ...


class SendRecheck(Protocol):
    def skip_reason(self, request: SendRequest, profile: UserProfile | None) -> str | None:
        """Why a mail must not go after all (checked just before sending), or None."""
        ...
