"""The composition root: the only module that knows which adapters implement the ports.

Everything is built on first use and cached for the life of the (warm) container, so importing a
handler creates no client, reads no environment and touches no network.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tagmail.config import Config

# Adapters and services are imported inside the factories that build them, so each function loads
# only what it uses at cold start (the tracking API never loads Jinja, requests or the SSM adapter).
if TYPE_CHECKING:
    from tagmail.adapters.campaign_store import DynamoCampaignEntries, DynamoCampaigns, DynamoFrequencyCaps
    from tagmail.adapters.dns import DnsRecordLookup
    from tagmail.adapters.dynamodb import DynamoProjects, DynamoUsers, Tables
    from tagmail.adapters.mail_store import DynamoIdempotency, DynamoMessages, DynamoStats, DynamoSuppressions
    from tagmail.adapters.mailgun import MailgunClient, MailgunMailer
    from tagmail.adapters.queues import SqsDeadLetters, SqsSendQueue
    from tagmail.adapters.rendering import JinjaRenderer
    from tagmail.adapters.secrets import SsmSecretStore
    from tagmail.adapters.step_functions import SfnDelayedSends
    from tagmail.adapters.template_store import DynamoTemplates
    from tagmail.adapters.usage_store import DynamoUsage
    from tagmail.domain.settings import MailSettings, ProjectSecrets
    from tagmail.services.campaign_results import CampaignResultsService
    from tagmail.services.campaigns import CampaignAdmin
    from tagmail.services.domain_readiness import DomainReadinessService
    from tagmail.services.event_stream import EventStreamConsumer
    from tagmail.services.ingest import IngestService
    from tagmail.services.keys import KeyResolver
    from tagmail.services.notices import Notifier
    from tagmail.services.ports import MxLookup
    from tagmail.services.preview import PreviewService, TestSendService
    from tagmail.services.projects import ProjectAdmin
    from tagmail.services.quota import QuotaNotices, SendingLimits, UsageReports
    from tagmail.services.reports import Reports
    from tagmail.services.send import SendService
    from tagmail.services.settings import SettingsService
    from tagmail.services.suppressions import SuppressionAdmin
    from tagmail.services.templates import TemplateAdmin
    from tagmail.services.trigger_recheck import TriggerRecheck
    from tagmail.services.triggers import PendingSends, TriggerEvaluator
    from tagmail.services.unsubscribe import UnsubscribeService
    from tagmail.services.webhooks import WebhookService


def utc_now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def config() -> Config:
    return Config.from_environ(os.environ)


@functools.cache
def tables() -> Tables:
    from tagmail.adapters.dynamodb import bind_tables

    return bind_tables(config())


def _projects() -> DynamoProjects:
    from tagmail.adapters.dynamodb import DynamoProjects

    return DynamoProjects(tables().projects)


def _users() -> DynamoUsers:
    from tagmail.adapters.dynamodb import DynamoUsers

    return DynamoUsers(tables().users)


@functools.cache
def key_resolver() -> KeyResolver:
    from tagmail.adapters.dynamodb import DynamoApiKeys
    from tagmail.services.keys import KeyResolver

    return KeyResolver(DynamoApiKeys(tables().api_keys), clock=utc_now)


@functools.cache
def ingest_service() -> IngestService:
    from tagmail.adapters.dynamodb import DynamoEvents
    from tagmail.services.ingest import IngestService

    return IngestService(
        keys=key_resolver(),
        users=_users(),
        events=DynamoEvents(tables().events),
        clock=utc_now,
        retention=timedelta(days=config().event_retention_days),
    )


@functools.cache
def event_stream_consumer() -> EventStreamConsumer:
    from tagmail.adapters.dynamodb import stored_event_from_image
    from tagmail.services.event_stream import EventStreamConsumer

    return EventStreamConsumer(decode=stored_event_from_image, evaluator=trigger_evaluator())


@functools.cache
def project_admin() -> ProjectAdmin:
    from tagmail.adapters.dynamodb import DynamoApiKeys
    from tagmail.services.projects import ProjectAdmin

    return ProjectAdmin(_projects(), DynamoApiKeys(tables().api_keys), secret_store(), clock=utc_now)


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=config().region, endpoint_url=config().aws_endpoint_url)


@functools.cache
def secret_store() -> SsmSecretStore:
    from tagmail.adapters.secrets import SsmSecretStore

    return SsmSecretStore(_client("ssm"), config().secrets_prefix)


@functools.cache
def send_queue() -> SqsSendQueue:
    from tagmail.adapters.queues import SqsSendQueue

    return SqsSendQueue(_client("sqs"), config().send_queue_url)


@functools.cache
def dead_letters() -> SqsDeadLetters:
    from tagmail.adapters.queues import SqsDeadLetters

    return SqsDeadLetters(_client("sqs"), config().send_dead_letter_queue_url)


@functools.cache
def renderer() -> JinjaRenderer:
    from tagmail.adapters.rendering import JinjaRenderer

    return JinjaRenderer()


@functools.cache
def _mailgun_session() -> Any:
    import requests

    # One pooled session per container: TLS connections to Mailgun are reused across sends.
    return requests.Session()


def mailer_for(settings: MailSettings, secrets: ProjectSecrets) -> MailgunMailer:
    from tagmail.adapters.mailgun import MailgunClient, MailgunMailer

    client = MailgunClient(settings.api_base_url, secrets.mailgun_api_key or "", session=_mailgun_session())
    return MailgunMailer(client)


@functools.cache
def message_store() -> DynamoMessages:
    from tagmail.adapters.mail_store import DynamoMessages

    return DynamoMessages(tables().messages)


@functools.cache
def stats_store() -> DynamoStats:
    from tagmail.adapters.mail_store import DynamoStats

    return DynamoStats(tables().stats)


@functools.cache
def suppression_store() -> DynamoSuppressions:
    from tagmail.adapters.mail_store import DynamoSuppressions

    return DynamoSuppressions(tables().suppressions)


@functools.cache
def template_store() -> DynamoTemplates:
    from tagmail.adapters.template_store import DynamoTemplates

    return DynamoTemplates(tables().templates)


@functools.cache
def idempotency_store() -> DynamoIdempotency:
    from tagmail.adapters.mail_store import DynamoIdempotency

    return DynamoIdempotency(tables().idempotency)


@functools.cache
def send_service() -> SendService:
    from tagmail.services.send import SendService

    return SendService(
        projects=_projects(),
        secrets=secret_store(),
        users=_users(),
        templates=template_store(),
        suppressions=suppression_store(),
        messages=message_store(),
        stats=stats_store(),
        renderer=renderer(),
        mailer_for=mailer_for,
        clock=utc_now,
        public_base_url=config().public_base_url,
        recheck=trigger_recheck(),
        limits=sending_limits(),
    )


def reset() -> None:
    """Forget every built object (tests and the local stack change the environment between runs)."""
    for name, built in list(globals().items()):
        if callable(built) and hasattr(built, "cache_clear") and not name.startswith("__"):
            built.cache_clear()


@functools.cache
def webhook_service() -> WebhookService:
    from tagmail.services.webhooks import WebhookService

    return WebhookService(
        projects=_projects(),
        secrets=secret_store(),
        messages=message_store(),
        suppressions=suppression_store(),
        stats=stats_store(),
        users=_users(),
        idempotency=idempotency_store(),
        clock=utc_now,
        tolerance=timedelta(seconds=config().webhook_tolerance_seconds),
    )


# -- Admin API ----------------------------------------------------------------------------------


@functools.cache
def mx_lookup() -> MxLookup:
    from tagmail.adapters.dns import DnsMxLookup

    nameservers, port = _dns_server()
    return DnsMxLookup(nameservers=nameservers, port=port)


def _dns_server() -> tuple[list[str] | None, int]:
    """DNS_SERVER ("host" or "host:port") points DNS lookups at one server (tests, local stacks);
    unset, the system's resolver configuration is used."""
    server = os.environ.get("DNS_SERVER", "").strip()
    if not server:
        return None, 53
    host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "53")
    return [host], int(port or 53)


def mailgun_domains_for(base_url: str, api_key: str) -> MailgunClient:
    from tagmail.adapters.mailgun import MailgunClient

    # Management calls are interactive: fail fast instead of retrying for seconds.
    return MailgunClient(base_url, api_key, session=_mailgun_session(), max_attempts=2, max_wait_seconds=1.0)


@functools.cache
def settings_service() -> SettingsService:
    from tagmail.services.settings import SettingsService

    return SettingsService(
        projects=_projects(),
        secrets=secret_store(),
        mx_lookup=mx_lookup(),
        mailgun_for=mailgun_domains_for,
        public_base_url=config().public_base_url,
    )


@functools.cache
def template_admin() -> TemplateAdmin:
    from tagmail.services.templates import TemplateAdmin

    return TemplateAdmin(templates=template_store(), checker=renderer(), clock=utc_now)


@functools.cache
def preview_service() -> PreviewService:
    from tagmail.services.preview import PreviewService

    return PreviewService(
        projects=_projects(),
        secrets=secret_store(),
        users=_users(),
        templates=template_store(),
        renderer=renderer(),
        checker=renderer(),
        public_base_url=config().public_base_url,
    )


@functools.cache
def test_send_service() -> TestSendService:
    from tagmail.services.preview import TestSendService

    return TestSendService(previews=preview_service(), secrets=secret_store(), queue=send_queue())


@functools.cache
def suppression_admin() -> SuppressionAdmin:
    from tagmail.services.suppressions import SuppressionAdmin

    return SuppressionAdmin(suppressions=suppression_store(), clock=utc_now)


@functools.cache
def reports() -> Reports:
    from tagmail.services.reports import Reports

    return Reports(stats=stats_store(), messages=message_store(), users=_users())


@functools.cache
def unsubscribe_service() -> UnsubscribeService:
    from tagmail.services.unsubscribe import UnsubscribeService

    return UnsubscribeService(
        projects=_projects(),
        secrets=secret_store(),
        users=_users(),
        stats=stats_store(),
        clock=utc_now,
    )


# -- Sending limits and notices -----------------------------------------------------------------


@functools.cache
def usage_store() -> DynamoUsage:
    from tagmail.adapters.usage_store import DynamoUsage

    return DynamoUsage(tables().usage)


@functools.cache
def notifier() -> Notifier:
    from tagmail.services.notices import Notifier

    return Notifier(projects=_projects(), claims=idempotency_store(), queue=send_queue(), clock=utc_now)


@functools.cache
def quota_notices() -> QuotaNotices:
    from tagmail.services.quota import QuotaNotices

    return QuotaNotices(projects=_projects(), usage=usage_store(), notifier=notifier(), clock=utc_now)


@functools.cache
def sending_limits() -> SendingLimits:
    import time

    from tagmail.services.quota import SendingLimits

    return SendingLimits(
        usage=usage_store(), messages=message_store(), clock=utc_now, sleep=time.sleep, notices=quota_notices()
    )


@functools.cache
def usage_reports() -> UsageReports:
    from tagmail.services.quota import UsageReports

    return UsageReports(projects=_projects(), usage=usage_store(), clock=utc_now)


# -- Campaigns ----------------------------------------------------------------------------------


@functools.cache
def campaign_store() -> DynamoCampaigns:
    from tagmail.adapters.campaign_store import CampaignItem, DynamoCampaigns, bind

    return DynamoCampaigns(bind(CampaignItem, config().campaigns_table, config()))


@functools.cache
def campaign_admin() -> CampaignAdmin:
    from tagmail.services.campaigns import CampaignAdmin

    return CampaignAdmin(campaigns=campaign_store(), templates=template_store(), clock=utc_now, pending=pending_sends())


@functools.cache
def delayed_sends() -> SfnDelayedSends:
    from tagmail.adapters.step_functions import SfnDelayedSends
    from tagmail.errors import ConfigurationError

    arn = config().delayed_send_state_machine_arn
    if not arn:
        raise ConfigurationError("environment variable DELAYED_SEND_STATE_MACHINE_ARN is not set")
    return SfnDelayedSends(_client("stepfunctions"), arn)


@functools.cache
def campaign_entries() -> DynamoCampaignEntries:
    from tagmail.adapters.campaign_store import CampaignEntryItem, DynamoCampaignEntries, EntriesByCampaign, bind

    model = bind(CampaignEntryItem, config().campaign_entries_table, config(), by_campaign=EntriesByCampaign())
    return DynamoCampaignEntries(model, tables().stats)


@functools.cache
def frequency_caps() -> DynamoFrequencyCaps:
    from tagmail.adapters.campaign_store import CapItem, DynamoFrequencyCaps, bind

    return DynamoFrequencyCaps(bind(CapItem, config().idempotency_table, config()))


@functools.cache
def pending_sends() -> PendingSends:
    from tagmail.services.triggers import PendingSends

    return PendingSends(entries=campaign_entries(), delayed=delayed_sends(), caps=frequency_caps(), clock=utc_now)


@functools.cache
def trigger_evaluator() -> TriggerEvaluator:
    from tagmail.services.triggers import TriggerEvaluator

    return TriggerEvaluator(
        campaigns=campaign_store(),
        projects=_projects(),
        users=_users(),
        entries=campaign_entries(),
        caps=frequency_caps(),
        queue=send_queue(),
        delayed=delayed_sends(),
        pending=pending_sends(),
        messages=message_store(),
        clock=utc_now,
    )


@functools.cache
def trigger_recheck() -> TriggerRecheck:
    from tagmail.adapters.event_history import DynamoEventHistory
    from tagmail.services.trigger_recheck import TriggerRecheck

    return TriggerRecheck(campaigns=campaign_store(), history=DynamoEventHistory(tables().events))


# -- Sending domain readiness -------------------------------------------------------------------


@functools.cache
def dns_lookup() -> DnsRecordLookup:
    from tagmail.adapters.dns import DnsRecordLookup

    nameservers, port = _dns_server()
    return DnsRecordLookup(nameservers=nameservers, port=port)


@functools.cache
def domain_readiness_service() -> DomainReadinessService:
    from tagmail.adapters.domain_readiness_store import DynamoDomainReadiness
    from tagmail.services.domain_readiness import DomainReadinessService

    return DomainReadinessService(
        projects=_projects(),
        secrets=secret_store(),
        mailgun_for=mailgun_domains_for,
        dns=dns_lookup(),
        store=DynamoDomainReadiness(tables().projects),
        notifier=notifier(),
        clock=utc_now,
    )


@functools.cache
def campaign_results() -> CampaignResultsService:
    from tagmail.adapters.campaign_store import DynamoCampaignFigures
    from tagmail.services.campaign_results import CampaignResultsService

    return CampaignResultsService(campaigns=campaign_store(), figures=DynamoCampaignFigures(tables().stats))
