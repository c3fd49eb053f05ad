"""In-memory implementations of the service ports, for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tagmail.domain.campaigns import Campaign, CampaignStatus
from tagmail.domain.dns_readiness import DnsAnswer, DnsError, DomainReadiness, ReadinessReport
from tagmail.domain.mail import Envelope
from tagmail.domain.projects import ApiKey, Project
from tagmail.domain.sending import MessageRecord, SendRequest
from tagmail.domain.settings import ProjectSecrets
from tagmail.domain.stats import Counter
from tagmail.domain.suppressions import Suppression
from tagmail.domain.templates import Template, TemplateVersion
from tagmail.domain.tracking import StoredEvent, TrackingMessage
from tagmail.domain.triggers import CampaignEntry, EntryOutcome
from tagmail.domain.users import UserProfile
from tagmail.errors import Conflict, DependencyUnavailable


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeApiKeys:
    def __init__(self) -> None:
        self.items: dict[str, ApiKey] = {}
        self.reads = 0

    def get(self, key_hash: str) -> ApiKey | None:
        self.reads += 1
        return self.items.get(key_hash)

    def add(self, key: ApiKey) -> None:
        assert key.key_hash not in self.items
        self.items[key.key_hash] = key


class FakeProjects:
    def __init__(self) -> None:
        self.items: dict[str, Project] = {}

    def get(self, project_id: str) -> Project | None:
        return self.items.get(project_id)

    def add(self, project: Project) -> None:
        self.items[project.project_id] = project

    def update(self, project: Project) -> None:
        assert project.project_id in self.items
        self.items[project.project_id] = project

    def project_for_domain(self, domain: str) -> str | None:
        return next(
            (p.project_id for p in self.items.values() if (p.settings.sending_domain or "").lower() == domain.lower()),
            None,
        )

    def all(self) -> Iterator[Project]:
        yield from list(self.items.values())


class FakeSecrets:
    def __init__(self) -> None:
        self.items: dict[str, ProjectSecrets] = {}

    def get(self, project_id: str) -> ProjectSecrets | None:
        return self.items.get(project_id)

    def put(self, project_id: str, secrets: ProjectSecrets) -> None:
        self.items[project_id] = secrets


class FakeUsers:
    """Keeps a revision per profile, like the DynamoDB adapter's conditional writes."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], UserProfile] = {}
        self.writes = 0
        # Makes the next save lose a race, as if another request had written first.
        self.collide_next = 0

    def get(self, project_id: str, key: str, consistent: bool = False) -> UserProfile | None:
        return self.items.get((project_id, key))

    def save(self, profile: UserProfile, expected: UserProfile | None) -> bool:
        stored = self.items.get((profile.project_id, profile.key))
        if self.collide_next:
            self.collide_next -= 1
            return False
        if (stored.revision if stored else None) != (expected.revision if expected else None):
            return False
        self.writes += 1
        self.items[(profile.project_id, profile.key)] = replace(
            profile, revision=(stored.revision or 0) + 1 if stored else 1
        )
        return True

    def profile(self, project_id: str, key: str) -> UserProfile:
        return self.items[(project_id, key)]


class FakeEvents:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], tuple[TrackingMessage, datetime]] = {}
        # Raises on the n-th add (1-based), to simulate a store failing part-way through a batch.
        self.fail_on: int | None = None
        self.calls = 0

    def add_once(self, project_id: str, message: TrackingMessage, expires_at: datetime) -> bool:
        self.calls += 1
        if self.fail_on == self.calls:
            raise DependencyUnavailable("store down")
        key = (project_id, message.actor, message.message_id)
        if key in self.items:
            return False
        self.items[key] = (message, expires_at)
        return True

    def of(self, project_id: str) -> list[TrackingMessage]:
        return [message for (project, _, _), (message, _) in self.items.items() if project == project_id]


class FakeMessages:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], MessageRecord] = {}

    def get(self, project_id: str, send_key: str) -> MessageRecord | None:
        return self.items.get((project_id, send_key))

    def reserve(self, record: MessageRecord) -> MessageRecord | None:
        if (record.project_id, record.send_key) in self.items:
            return None
        stored = replace(record, revision=1)
        self.items[(record.project_id, record.send_key)] = stored
        return stored

    def save(self, record: MessageRecord) -> MessageRecord | None:
        current = self.items.get((record.project_id, record.send_key))
        if current is None or current.revision != record.revision:
            return None
        stored = replace(record, revision=(record.revision or 0) + 1)
        self.items[(record.project_id, record.send_key)] = stored
        return stored


class FakeSuppressions:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Suppression] = {}

    def get(self, project_id: str, address: str) -> Suppression | None:
        return self.items.get((project_id, address))

    def add(self, suppression: Suppression) -> None:
        self.items.setdefault((suppression.project_id, suppression.address), suppression)

    def remove(self, project_id: str, address: str) -> bool:
        return self.items.pop((project_id, address), None) is not None

    def list(self, project_id: str, after: str | None = None, limit: int = 100) -> tuple[list[Suppression], str | None]:
        addresses = sorted(address for project, address in self.items if project == project_id)
        page = [address for address in addresses if after is None or address > after][:limit]
        more = bool(page) and page[-1] != addresses[-1]
        return [self.items[(project_id, address)] for address in page], (page[-1] if more else None)


class FakeStats:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], dict[Counter, int]] = {}

    def add(self, project_id: str, campaign_id: str, variant: str, counts: Mapping[Counter, int]) -> None:
        row = self.counts.setdefault((project_id, campaign_id, variant), {})
        for counter, value in counts.items():
            row[counter] = row.get(counter, 0) + value

    def total(self, counter: Counter) -> int:
        return sum(row.get(counter, 0) for row in self.counts.values())

    def of_campaign(self, project_id: str, campaign_id: str) -> dict[str, dict[Counter, int]]:
        return {
            variant: {counter: row.get(counter, 0) for counter in Counter}
            for (project, campaign, variant), row in self.counts.items()
            if (project, campaign) == (project_id, campaign_id)
        }


class FakeTemplates:
    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], list[TemplateVersion]] = {}

    def add(self, project_id: str, version: TemplateVersion) -> None:
        self.versions.setdefault((project_id, version.template_id), []).append(version)

    def get_version(self, project_id: str, template_id: str, version: int | None) -> TemplateVersion | None:
        versions = self.versions.get((project_id, template_id), [])
        if version is None:
            return versions[-1] if versions else None
        return next((v for v in versions if v.version == version), None)


class FakeMailer:
    """Records what would be handed to Mailgun; `failures` are raised one per call first."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self.failures: list[Exception] = []
        self.accepted_by_provider: dict[str, str] = {}

    def send(self, envelope: Envelope) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(envelope)
        message_id = f"<{len(self.sent)}@{envelope.domain}>"
        self.accepted_by_provider[envelope.variables.get("tagmail_send", "")] = message_id
        return message_id

    def find_accepted(self, envelope: Envelope, since: datetime) -> str | None:
        return self.accepted_by_provider.get(envelope.variables.get("tagmail_send", ""))


class FakeIdempotency:
    """Claimed keys with their expiry; `fail_claims` makes claims raise, as a store outage would."""

    def __init__(self) -> None:
        self.claims: dict[str, datetime] = {}
        self.released: list[str] = []
        self.fail_claims = False

    def claim(self, key: str, until: datetime) -> bool:
        if self.fail_claims:
            raise DependencyUnavailable("store down")
        if key in self.claims:
            return False
        self.claims[key] = until
        return True

    def release(self, key: str) -> None:
        self.released.append(key)
        self.claims.pop(key, None)


class FakeTemplateStore(FakeTemplates):
    """Templates with their latest-version pointer; a version number written twice is a Conflict,
    as the DynamoDB adapter's conditional transaction makes it."""

    def __init__(self) -> None:
        super().__init__()
        self.templates: dict[tuple[str, str], Template] = {}
        # Lets another writer add a version between the service's read and its write.
        self.before_write: Callable[[], None] | None = None

    def get(self, project_id: str, template_id: str) -> Template | None:
        return self.templates.get((project_id, template_id))

    def list(self, project_id: str) -> list[Template]:
        return [template for (project, _), template in self.templates.items() if project == project_id]

    def add_version(self, project_id: str, template: Template, version: TemplateVersion) -> None:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook()
        stored = self.templates.get((project_id, template.id))
        expected = version.version - 1
        if (stored.latest_version if stored else 0) != expected or any(
            v.version == version.version for v in self.versions.get((project_id, template.id), [])
        ):
            raise Conflict(f"template {template.id} changed meanwhile")
        self.templates[(project_id, template.id)] = template
        self.add(project_id, version)


class FakeMxLookup:
    def __init__(self, hosts: dict[str, tuple[str, ...]] | None = None) -> None:
        self.hosts = hosts or {}
        self.failing = False
        self.lookups: list[str] = []

    def mx_hosts(self, domain: str) -> tuple[str, ...]:
        self.lookups.append(domain)
        if self.failing:
            raise DependencyUnavailable(f"the DNS lookup of {domain}'s MX records timed out")
        return self.hosts.get(domain, ())


class FakeMailgunDomains:
    """Mailgun's domain and webhook management as the v3/v4 API behaves: unknown domains are
    None, POST creates a webhook type, PUT replaces a type's URLs, at most three per type."""

    def __init__(self) -> None:
        self.domains: dict[str, dict[str, Any]] = {}
        self.hooks: dict[str, dict[str, list[str]]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.failure: Exception | None = None
        self.api_keys: list[tuple[str, str]] = []

    def __call__(self, base_url: str, api_key: str) -> FakeMailgunDomains:
        self.api_keys.append((base_url, api_key))
        return self

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure

    def get_domain(self, domain: str) -> dict[str, Any] | None:
        self.calls.append(("get_domain", domain))
        self._maybe_fail()
        return self.domains.get(domain)

    def create_domain(self, domain: str) -> dict[str, Any]:
        self.calls.append(("create_domain", domain))
        self._maybe_fail()
        created = {
            "message": "Domain has been created",
            "domain": {"name": domain, "state": "unverified"},
            "sending_dns_records": [
                {"record_type": "TXT", "name": domain, "value": "v=spf1 include:mailgun.org ~all", "valid": "unknown"},
                {"record_type": "TXT", "name": f"mx._domainkey.{domain}", "value": "k=rsa; p=MIGf", "valid": "unknown"},
                {"record_type": "CNAME", "name": f"email.{domain}", "value": "mailgun.org", "valid": "unknown"},
            ],
            "receiving_dns_records": [
                {"record_type": "MX", "name": domain, "value": "mxa.mailgun.org", "priority": "10", "valid": "unknown"},
                {"record_type": "MX", "name": domain, "value": "mxb.mailgun.org", "priority": "10", "valid": "unknown"},
            ],
        }
        self.domains[domain] = created
        return created

    def webhooks(self, domain: str) -> dict[str, list[str]]:
        self.calls.append(("webhooks", domain))
        self._maybe_fail()
        return {kind: list(urls) for kind, urls in self.hooks.get(domain, {}).items()}

    def set_webhook(self, domain: str, kind: str, urls: list[str], exists: bool) -> None:
        self.calls.append(("set_webhook", domain, kind, "PUT" if exists else "POST"))
        self._maybe_fail()
        hooks = self.hooks.setdefault(domain, {})
        assert (kind in hooks) == exists, "POST for a new type, PUT for an existing one"
        assert len(urls) <= 3, "Mailgun keeps at most three URLs per webhook type"
        hooks[kind] = list(urls)

    def writes(self) -> list[tuple[str, ...]]:
        return [call for call in self.calls if call[0] in ("create_domain", "set_webhook")]


class FakeDns:
    """Answers from `records[(name, type)]`; other names do not exist. `error` fails every lookup."""

    def __init__(self, records: dict[tuple[str, str], tuple[str, ...]] | None = None) -> None:
        self.records = dict(records or {})
        self.error: DnsError | None = None
        self.lookups: list[tuple[str, str]] = []

    def lookup(self, name: str, record_type: str) -> DnsAnswer:
        self.lookups.append((name, record_type))
        if self.error is not None:
            return DnsAnswer(error=self.error)
        if (name, record_type) in self.records:
            return DnsAnswer(self.records[(name, record_type)])
        if any(known == name for known, _ in self.records):
            return DnsAnswer()
        return DnsAnswer(error=DnsError.NXDOMAIN)


class FakeDomainReadinessStore:
    """Keeps the state on the fake project (as the adapter does on the item) and the last report."""

    def __init__(self, projects: FakeProjects) -> None:
        self.projects = projects
        self.reports: dict[str, ReadinessReport] = {}

    def save(self, project_id: str, readiness: DomainReadiness, report: ReadinessReport) -> None:
        project = self.projects.items[project_id]
        self.projects.items[project_id] = replace(project, domain_readiness=readiness)
        self.reports[project_id] = report

    def last_report(self, project_id: str) -> ReadinessReport | None:
        return self.reports.get(project_id)

    def project_ids_with_domain(self) -> list[str]:
        return [pid for pid, project in self.projects.items.items() if project.settings.sending_domain]


def ready_domain(domain: str, now: datetime) -> DomainReadiness:
    """A domain whose SPF and DKIM have passed for long: sending is open."""
    return DomainReadiness(domain, now, passing_since=now - timedelta(days=30))


class FakeSendQueue:
    def __init__(self) -> None:
        self.requests: list[SendRequest] = []
        # Makes the next n enqueues fail, as an SQS outage would.
        self.fail_next = 0

    def enqueue(self, request: SendRequest, delay_seconds: int = 0) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise DependencyUnavailable("queue down")
        self.requests.append(request)


class FakeUsage:
    """Sending counts per (project, period) with the adapter's bounded ADD; `fail_adds` makes adds
    raise, as a store outage would."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.noted: dict[tuple[str, str], dict[int, datetime]] = {}
        self.fail_adds = False

    def add(self, project_id: str, period: str, count: int, *, at_most: int | None, expires_at: datetime) -> int | None:
        if self.fail_adds:
            raise DependencyUnavailable("store down")
        total = self.counts.get((project_id, period), 0) + count
        if at_most is not None and total > at_most:
            return None
        self.counts[(project_id, period)] = total
        return total

    def subtract(self, project_id: str, period: str, count: int) -> None:
        self.counts[(project_id, period)] = self.counts.get((project_id, period), 0) - count

    def sent(self, project_id: str, first: str, last: str) -> dict[str, int]:
        return {
            period: value
            for (project, period), value in sorted(self.counts.items())
            if project == project_id and first <= period <= last
        }

    def notices(self, project_id: str, month_period: str) -> dict[int, datetime]:
        return dict(self.noted.get((project_id, month_period), {}))

    def mark_notice(self, project_id: str, month_period: str, percent: int, at: datetime) -> None:
        self.noted.setdefault((project_id, month_period), {}).setdefault(percent, at)

    def of(self, project_id: str, period: str) -> int:
        return self.counts.get((project_id, period), 0)


class FakeCampaigns:
    """Campaigns with a revision each, written conditionally like the DynamoDB adapter."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Campaign] = {}
        self.reads = 0

    def get(self, project_id: str, campaign_id: str) -> Campaign | None:
        self.reads += 1
        return self.items.get((project_id, campaign_id))

    def list(self, project_id: str, status: CampaignStatus | None = None) -> list[Campaign]:
        self.reads += 1
        return [c for (p, _), c in self.items.items() if p == project_id and (status is None or c.status is status)]

    def add(self, campaign: Campaign) -> Campaign:
        if (campaign.project_id, campaign.id) in self.items:
            raise Conflict(f"campaign {campaign.id} exists already")
        stored = replace(campaign, revision=1)
        self.items[(campaign.project_id, campaign.id)] = stored
        return stored

    def save(self, campaign: Campaign) -> Campaign | None:
        current = self.items.get((campaign.project_id, campaign.id))
        if (current.revision if current else None) != campaign.revision:
            return None
        stored = replace(campaign, revision=(campaign.revision or 0) + 1)
        self.items[(campaign.project_id, campaign.id)] = stored
        return stored


class FakeCampaignEntries:
    """Entries written once with their counters (into a FakeStats), as the adapter's transaction."""

    def __init__(self, stats: FakeStats) -> None:
        self.items: dict[tuple[str, str, str, str], CampaignEntry] = {}
        self.stats = stats
        self.revenue: dict[tuple[str, str, str], float] = {}

    def record(self, entry: CampaignEntry, counts: Mapping[Counter, int], expires_at: datetime) -> bool:
        key = (entry.project_id, entry.user_key, entry.campaign_id, entry.entry_id)
        if key in self.items:
            return False
        self.items[key] = entry
        self.stats.add(entry.project_id, entry.campaign_id, entry.group, counts)
        return True

    def of_user(self, project_id: str, user_key: str) -> list[CampaignEntry]:
        return [e for (p, u, _, _), e in self.items.items() if (p, u) == (project_id, user_key)]

    def pending_of_campaign(
        self, project_id: str, campaign_id: str, after: datetime, limit: int
    ) -> list[CampaignEntry]:
        pending = [
            e
            for e in self.items.values()
            if (e.project_id, e.campaign_id) == (project_id, campaign_id) and e.is_pending(after)
        ]
        return sorted(pending, key=lambda e: e.due_at or after)[:limit]

    def cancel(self, entry: CampaignEntry, reason: str, counts: Mapping[Counter, int]) -> bool:
        key = (entry.project_id, entry.user_key, entry.campaign_id, entry.entry_id)
        stored = self.items.get(key)
        if stored is None or stored.outcome not in (EntryOutcome.SCHEDULED, EntryOutcome.HOLDOUT):
            return False
        self.items[key] = replace(stored, outcome=EntryOutcome.CANCELLED, reason=reason)
        self.stats.add(entry.project_id, entry.campaign_id, entry.group, counts)
        return True

    def convert(
        self, entry: CampaignEntry, by: str, at: datetime, revenue: float, counts: Mapping[Counter, int]
    ) -> bool:
        key = (entry.project_id, entry.user_key, entry.campaign_id, entry.entry_id)
        stored = self.items[key]
        if stored.converted_at is not None:
            return False
        self.items[key] = replace(stored, converted_at=at, converted_by=by)
        self.stats.add(entry.project_id, entry.campaign_id, entry.group, counts)
        group = (entry.project_id, entry.campaign_id, entry.group)
        self.revenue[group] = self.revenue.get(group, 0.0) + revenue
        return True

    def of_campaign(self, project_id: str, campaign_id: str) -> dict[str, dict[str, float]]:
        """The figures the results read (FakeStats' counters and the revenue)."""
        return {
            group: {
                **{counter.value: float(value) for counter, value in row.items()},
                "revenue": self.revenue.get((project_id, campaign_id, group), 0.0),
            }
            for group, row in self.stats.of_campaign(project_id, campaign_id).items()
        }

    def outcomes(self) -> list[EntryOutcome]:
        return [entry.outcome for entry in self.items.values()]


class FakeFrequencyCaps:
    def __init__(self) -> None:
        self.holds: dict[str, tuple[str, datetime]] = {}
        self.slots: dict[str, set[str]] = {}

    def claim(self, key: str, holder: str, now: datetime, until: datetime) -> bool:
        held = self.holds.get(key)
        if held is not None and held[1] > now and held[0] != holder:
            return False
        self.holds[key] = (holder, until)
        return True

    def release(self, key: str, holder: str) -> None:
        if self.holds.get(key, ("", None))[0] == holder:
            del self.holds[key]

    def take_slot(self, key: str, member: str, limit: int, until: datetime) -> bool:
        members = self.slots.setdefault(key, set())
        if member not in members and len(members) >= limit:
            return False
        members.add(member)
        return True

    def give_back_slot(self, key: str, member: str) -> None:
        self.slots.get(key, set()).discard(member)


class FakeDelayedSends:
    """Pending sends by execution name, as Step Functions keeps named executions."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[datetime, SendRequest]] = {}
        self.stopped: list[str] = []
        self.start_calls = 0

    def start(self, name: str, due_at: datetime, request: SendRequest) -> str:
        self.start_calls += 1
        self.started.setdefault(name, (due_at, request))
        return f"arn:execution:{name}"

    def stop(self, execution_id: str) -> None:
        self.stopped.append(execution_id)

    def pending(self) -> dict[str, tuple[datetime, SendRequest]]:
        stopped = {arn.removeprefix("arn:execution:") for arn in self.stopped}
        return {name: value for name, value in self.started.items() if name not in stopped}


class FakeEventHistory:
    """Stored events by (project, actor); `since` compares the stored time text, as the adapter does."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], list[StoredEvent]] = {}
        self.reads: list[str] = []

    def add(self, event: StoredEvent) -> None:
        self.events.setdefault((event.project_id, event.actor), []).append(event)

    def since(self, project_id: str, actor: str, names: Collection[str], since: str) -> list[StoredEvent]:
        self.reads.append(actor)
        return [e for e in self.events.get((project_id, actor), []) if e.event in names and e.ts >= since]
