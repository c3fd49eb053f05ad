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
    event_retention_days: int = 400
    region: str = "us-east-1"
    # Set only locally (moto); in AWS the SDK finds its endpoints itself.
    aws_endpoint_url: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Config:
        def required(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        retention = environ.get("EVENT_RETENTION_DAYS", "400")
        if not retention.isdigit() or int(retention) < 1:
            raise ConfigurationError("EVENT_RETENTION_DAYS must be a positive whole number of days")
        return cls(
            projects_table=required("PROJECTS_TABLE"),
            api_keys_table=required("API_KEYS_TABLE"),
            users_table=required("USERS_TABLE"),
            events_table=required("EVENTS_TABLE"),
            event_retention_days=int(retention),
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            aws_endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
        )
