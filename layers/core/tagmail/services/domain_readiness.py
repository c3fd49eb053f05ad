"""Sending domain readiness: check a project's domain against what Mailgun asks for, remember
since when SPF and DKIM pass, say when sending opens, and tell the project's notification
address when a required record breaks.

The send path never checks DNS itself: it reads the state this service leaves on the project
(`Project.domain_readiness`), which it loads anyway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tagmail.domain.dns_readiness import (
    CheckName,
    CheckOptions,
    DomainReadiness,
    MailgunDomainRecords,
    ReadinessReport,
    check_domain,
    closed_reason,
    newly_broken,
    next_readiness,
)
from tagmail.domain.notices import NoticeKind
from tagmail.domain.projects import Project
from tagmail.domain.settings import MailgunRegion
from tagmail.errors import Conflict, NotFound, TagmailError
from tagmail.observability import count, logger
from tagmail.services.notices import Notifier
from tagmail.services.ports import (
    Clock,
    DnsLookup,
    DomainReadinessStore,
    MailgunDomainsFactory,
    ProjectRepository,
    SecretStore,
)
from tagmail.services.settings import mailgun_failure


@dataclass(frozen=True)
class DomainStatus:
    """A report and what it means for sending, as of `now`."""

    report: ReadinessReport
    readiness: DomainReadiness
    wait_hours: int
    now: datetime

    @property
    def opens_at(self) -> datetime | None:
        """When sending opens (or opened); None while SPF or DKIM does not pass."""
        return self.readiness.opens_at(self.wait_hours)

    @property
    def closed_reason(self) -> str | None:
        return closed_reason(self.readiness, self.report.domain, self.wait_hours, self.now)

    @property
    def sending_open(self) -> bool:
        return self.closed_reason is None


@dataclass(frozen=True)
class DailyCheck:
    checked: int = 0
    skipped: int = 0  # disabled, or no Mailgun key: nothing to check against
    failed: int = 0  # Mailgun or the store did not answer; the next run checks again
    broken: int = 0  # projects where a required record broke (each notified once)


class DomainReadinessService:
    def __init__(
        self,
        *,
        projects: ProjectRepository,
        secrets: SecretStore,
        mailgun_for: MailgunDomainsFactory,
        dns: DnsLookup,
        store: DomainReadinessStore,
        notifier: Notifier,
        clock: Clock,
    ) -> None:
        self._projects = projects
        self._secrets = secrets
        self._mailgun_for = mailgun_for
        self._dns = dns
        self._store = store
        self._notifier = notifier
        self._clock = clock

    def status(self, project_id: str) -> DomainStatus:
        """The last check of the project's current domain; checked now if it never was."""
        project = self._project(project_id)
        domain = _domain(project)
        report = self._store.last_report(project_id)
        readiness = project.domain_readiness
        if report is None or readiness is None or report.domain != domain or readiness.domain != domain:
            return self.check(project_id)
        return DomainStatus(report, readiness, project.settings.sending_wait_hours, self._clock())

    def check(self, project_id: str) -> DomainStatus:
        """Check the domain now, keep the result, and notify when a required record broke."""
        project = self._project(project_id)
        report = self._report(project)
        previous = project.domain_readiness
        readiness = next_readiness(previous, report)
        self._store.save(project_id, readiness, report)
        count("DomainChecks")
        logger().info(
            "domain checked",
            project_id=project_id,
            failing=[name.value for name in report.failing],
            inconclusive=[name.value for name in report.inconclusive],
        )
        broken = newly_broken(previous, readiness)
        if broken:
            self._notify(project, report, broken)
        return DomainStatus(report, readiness, project.settings.sending_wait_hours, self._clock())

    def check_all(self) -> DailyCheck:
        """Re-check every active project's domain; one project failing does not stop the others."""
        checked = skipped = failed = broken = 0
        for project_id in self._store.project_ids_with_domain():
            project = self._projects.get(project_id)
            stored = self._secrets.get(project_id) if project is not None else None
            if project is None or not project.settings.enabled or stored is None or not stored.mailgun_api_key:
                skipped += 1
                continue
            try:
                before = project.domain_readiness
                status = self.check(project_id)
            except TagmailError as error:
                failed += 1
                logger().warning("domain check failed", project_id=project_id, code=error.code, error=error.message)
                continue
            checked += 1
            broken += bool(newly_broken(before, status.readiness))
        return DailyCheck(checked, skipped, failed, broken)

    def _report(self, project: Project) -> ReadinessReport:
        settings = project.settings
        domain = _domain(project)
        stored = self._secrets.get(project.project_id)
        if stored is None or not stored.mailgun_api_key:
            raise Conflict("the project has no Mailgun API key yet; set it with PUT /admin/v1/settings")
        client = self._mailgun_for(settings.api_base_url, stored.mailgun_api_key)
        try:
            info = client.get_domain(domain)
        except TagmailError as error:
            raise mailgun_failure(error, retry_hint="try the check again later", domain_refusal=False) from error
        if info is None:
            raise NotFound(f"Mailgun does not know {domain}; save the settings with the API key to create it there")
        expected = MailgunDomainRecords.from_mailgun(domain, info, eu=settings.mailgun_region is MailgunRegion.EU)
        sender = settings.sender_address
        options = CheckOptions(
            from_domain=sender.rsplit("@", 1)[1] if sender and "@" in sender else None,
            tracking=not (settings.disable_click_tracking and settings.disable_open_tracking),
        )
        return check_domain(expected, self._dns.lookup, self._clock(), options)

    def _notify(self, project: Project, report: ReadinessReport, broken: tuple[CheckName, ...]) -> None:
        names = sorted(name.value for name in broken)
        day = report.checked_at.date().isoformat()
        checks = [check for check in report.checks if check.name in broken]
        variables = {
            "domain": report.domain,
            "checked_at": report.checked_at.isoformat(timespec="minutes"),
            "wait_hours": project.settings.sending_wait_hours,
            "checks": [
                {
                    "name": check.name.value.upper(),
                    "summary": check.summary,
                    "records": [record.zone_line() for record in check.records_to_add],
                }
                for check in checks
            ],
        }
        # One notice per breakage: the key names the project, the checks that broke and the day.
        key = f"notice:domain-broken:{project.project_id}:{'+'.join(names)}:{day}"
        if self._notifier.notify(project.project_id, NoticeKind.DOMAIN_RECORD_BROKEN, variables, key):
            count("DomainBreakageNotices")
        logger().warning("required DNS record broke", project_id=project.project_id, checks=names)

    def _project(self, project_id: str) -> Project:
        project = self._projects.get(project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        return project


def _domain(project: Project) -> str:
    domain = project.settings.sending_domain
    if not domain:
        raise Conflict("the project has no sending domain yet; set it with PUT /admin/v1/settings")
    return domain.lower()
