"""The composition root: the only module that knows which adapters implement the ports.

Everything is built on first use and cached for the life of the (warm) container, so importing a
handler creates no client, reads no environment and touches no network.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime, timedelta

from tagmail.adapters.dynamodb import DynamoApiKeys, DynamoEvents, DynamoProjects, DynamoUsers, Tables, bind_tables
from tagmail.config import Config
from tagmail.services.event_stream import EventStreamConsumer
from tagmail.services.ingest import IngestService
from tagmail.services.keys import KeyResolver
from tagmail.services.projects import ProjectAdmin


def utc_now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def config() -> Config:
    return Config.from_environ(os.environ)


@functools.cache
def tables() -> Tables:
    return bind_tables(config())


@functools.cache
def key_resolver() -> KeyResolver:
    return KeyResolver(DynamoApiKeys(tables().api_keys), clock=utc_now)


@functools.cache
def ingest_service() -> IngestService:
    return IngestService(
        keys=key_resolver(),
        users=DynamoUsers(tables().users),
        events=DynamoEvents(tables().events),
        clock=utc_now,
        retention=timedelta(days=config().event_retention_days),
    )


@functools.cache
def event_stream_consumer() -> EventStreamConsumer:
    return EventStreamConsumer()


@functools.cache
def project_admin() -> ProjectAdmin:
    return ProjectAdmin(DynamoProjects(tables().projects), DynamoApiKeys(tables().api_keys), clock=utc_now)


def reset() -> None:
    """Forget every built object (tests and the local stack change the environment between runs)."""
    for built in (config, tables, key_resolver, ingest_service, event_stream_consumer, project_admin):
        built.cache_clear()
