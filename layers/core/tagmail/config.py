"""Typed configuration, read once from the environment by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tagmail.errors import ConfigurationError


@dataclass(frozen=True)
class Config:
    projects_table: str
    api_keys_table: str
    users_table: str
    events_table: str
    templates_table: str
    messages_table: str
    suppressions_table: str
    stats_table: str
    idempotency_table: str
    campaigns_table: str
    campaign_entries_table: str
    usage_table: str
    send_queue_url: str
    send_dead_letter_queue_url: str
    # SSM parameter path under which each project's secrets live ("<prefix>/<project id>").
    secrets_prefix: str
    # Base of links in mail (unsubscribe) and of the webhook URL registered at Mailgun.
    public_base_url: str
    webhook_tolerance_seconds: int = 900
    event_retention_days: int = 400
    region: str = "us-east-1"
    # Set only locally (moto); in AWS the SDK finds its endpoints itself.
    aws_endpoint_url: str | None = None
    # Only the functions that start or stop delayed sends have it.
    delayed_send_state_machine_arn: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Config:
        def required(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        def positive(name: str, default: str) -> int:
            value = environ.get(name, default)
            if not value.isdigit() or int(value) < 1:
                raise ConfigurationError(f"{name} must be a positive whole number")
            return int(value)

        return cls(
            projects_table=required("PROJECTS_TABLE"),
            api_keys_table=required("API_KEYS_TABLE"),
            users_table=required("USERS_TABLE"),
            events_table=required("EVENTS_TABLE"),
            templates_table=required("TEMPLATES_TABLE"),
            messages_table=required("MESSAGES_TABLE"),
            suppressions_table=required("SUPPRESSIONS_TABLE"),
            stats_table=required("STATS_TABLE"),
            idempotency_table=required("IDEMPOTENCY_TABLE"),
            campaigns_table=required("CAMPAIGNS_TABLE"),
            campaign_entries_table=required("CAMPAIGN_ENTRIES_TABLE"),
            usage_table=required("USAGE_TABLE"),
            send_queue_url=required("SEND_QUEUE_URL"),
            send_dead_letter_queue_url=required("SEND_DEAD_LETTER_QUEUE_URL"),
            secrets_prefix=required("SECRETS_PREFIX"),
            public_base_url=required("PUBLIC_BASE_URL").rstrip("/"),
            webhook_tolerance_seconds=positive("WEBHOOK_TOLERANCE_SECONDS", "900"),
            event_retention_days=positive("EVENT_RETENTION_DAYS", "400"),
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            aws_endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
            delayed_send_state_machine_arn=environ.get("DELAYED_SEND_STATE_MACHINE_ARN") or None,
        )
