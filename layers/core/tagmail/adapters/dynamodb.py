"""DynamoDB through pynamodb: item models bound to table names at run time, and the repositories."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, PynamoDBException, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from tagmail.config import Config
from tagmail.domain.dns_readiness import CheckName, DomainReadiness
from tagmail.domain.projects import ApiKey, KeyKind, Project
from tagmail.domain.settings import MailgunRegion, MailSettings
from tagmail.domain.tracking import StoredEvent, TrackingMessage
from tagmail.domain.users import UserProfile, shard_of
from tagmail.errors import Conflict, DependencyUnavailable, NotFound


class ProjectsByDomain(GlobalSecondaryIndex["ProjectItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_domain"
        projection = KeysOnlyProjection()

    sending_domain = UnicodeAttribute(hash_key=True)


class ProjectItem(Model):
    project_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # Top-level copy of settings.sending_domain for the by_domain index (webhooks → project).
    sending_domain = UnicodeAttribute(null=True)
    settings = UnicodeAttribute(null=True)  # MailSettings as JSON
    # DomainReadiness as JSON: written only by the domain check, read with the project by the send gate.
    domain_readiness = UnicodeAttribute(null=True)
    # The last readiness report as JSON (what the admin API shows); never read by the send path.
    domain_report = UnicodeAttribute(null=True)
    # Bound per table in bind_tables(): an index object must belong to exactly one model class.
    by_domain: ProjectsByDomain


class ApiKeyItem(Model):
    key_hash = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class UserItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    email = UnicodeAttribute(null=True)
    email_canonical = UnicodeAttribute(null=True)
    # Only mailable profiles are in the e-mail and shard indexes (a sparse index costs nothing for
    # the others).
    email_key = UnicodeAttribute(null=True)
    project_shard = UnicodeAttribute(null=True)
    subscription = BooleanAttribute(null=True)
    subscription_changed_at = UTCDateTimeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    traits = MapAttribute(null=True)  # type: ignore[no-untyped-call,var-annotated]
    identified_at = UTCDateTimeAttribute(null=True)
    alias_of = UnicodeAttribute(null=True)
    version = VersionAttribute()


class EventItem(Model):
    """Kept small: every 1 KB more is one more write unit per event. The project, actor and
    message id live in the keys; the other id of a message sent with both is kept beside them."""

    pk = UnicodeAttribute(hash_key=True)  # "<project>#u:<userId>" or "<project>#a:<anonymousId>"
    sk = UnicodeAttribute(range_key=True)  # "m:<messageId>"
    type = UnicodeAttribute()
    anonymous_id = UnicodeAttribute(null=True)
    event = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    ts = UnicodeAttribute()
    received_at = UnicodeAttribute()
    # Properties, traits and context as JSON text: any shape a client sends is storable.
    payload = UnicodeAttribute()
    expires_at = NumberAttribute()


class TemplatesByProject(GlobalSecondaryIndex["TemplateItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_project"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class TemplateItem(Model):
    """sk "meta": the template (name, latest version); sk "v#000001"...: its immutable versions."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    template_id = UnicodeAttribute()
    # Only meta items carry project_id and name, so only they are in the by_project index.
    project_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    latest_version = NumberAttribute(null=True)
    version = NumberAttribute(null=True)
    default_locale = UnicodeAttribute(null=True)
    contents = UnicodeAttribute(null=True)  # {locale: {subject, html, text}} as JSON
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute(null=True)
    by_project: TemplatesByProject


class MessageItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    send_key = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    campaign_id = UnicodeAttribute()
    variant = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    recipient = UnicodeAttribute(null=True)
    user_key = UnicodeAttribute(null=True)
    template_id = UnicodeAttribute(null=True)
    template_version = NumberAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    mailgun_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    quota_hold = UnicodeAttribute(null=True)  # "<month>|<hour>|<recipients>"
    history = UnicodeAttribute(default="[]")  # [[status, iso time, detail], ...]
    expires_at = NumberAttribute()
    version = VersionAttribute()


class SuppressionItem(Model):
    project_id = UnicodeAttribute(hash_key=True)
    address = UnicodeAttribute(range_key=True)
    reason = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    detail = UnicodeAttribute(null=True)


class StatsItem(Model):
    """One counter attribute per `Counter`, each changed with an atomic ADD."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    accepted = NumberAttribute(null=True)
    delivered = NumberAttribute(null=True)
    opened = NumberAttribute(null=True)
    unique_opened = NumberAttribute(null=True)
    clicked = NumberAttribute(null=True)
    unique_clicked = NumberAttribute(null=True)
    failed_temporary = NumberAttribute(null=True)
    failed_permanent = NumberAttribute(null=True)
    complained = NumberAttribute(null=True)
    unsubscribed = NumberAttribute(null=True)
    skipped = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    entered = NumberAttribute(null=True)
    scheduled = NumberAttribute(null=True)
    cancelled = NumberAttribute(null=True)
    holdout = NumberAttribute(null=True)
    capped = NumberAttribute(null=True)
    converted = NumberAttribute(null=True)
    # The conversions' revenue, summed (a decimal, so not one of the whole-number counters).
    revenue = NumberAttribute(null=True)


class IdempotencyItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute()


class UsageItem(Model):
    """Sending counts of a project: pk = project, sk = "m#<month>", "h#<UTC hour>" or "s#<second>",
    each changed with an atomic, conditional ADD."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    sent = NumberAttribute(null=True)
    # Month items: when the 90 % and 100 % notices were queued.
    notice_90_at = UTCDateTimeAttribute(null=True)
    notice_100_at = UTCDateTimeAttribute(null=True)
    expires_at = NumberAttribute(null=True)


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Tables:
    projects: type[ProjectItem]
    api_keys: type[ApiKeyItem]
    users: type[UserItem]
    events: type[EventItem]
    templates: type[TemplateItem]
    messages: type[MessageItem]
    suppressions: type[SuppressionItem]
    stats: type[StatsItem]
    idempotency: type[IdempotencyItem]
    usage: type[UsageItem]


@functools.lru_cache(maxsize=8)
def _connection_to(region: str, host: str | None) -> Connection:
    return Connection(region=region, host=host)


def transaction_connection(model: type[Model]) -> Connection:
    """The connection transactions of `model`'s table go through, one per container: creating a
    botocore client costs tens of milliseconds, too much to pay for every transaction."""
    return _connection_to(model.Meta.region, model.Meta.host)


def bind_model(model: type[M], table_name: str, config: Config, **indexes: Any) -> type[M]:
    """The item model subclassed with a Meta naming its table (table names are known only at run
    time); each index object must belong to exactly one bound model, so indexes are passed here."""
    meta = type(
        "Meta",
        (),
        {
            "table_name": table_name,
            "region": config.region,
            "host": config.aws_endpoint_url,
            "connect_timeout_seconds": 2,
            "read_timeout_seconds": 5,
            "max_retry_attempts": 3,
        },
    )
    return type(model.__name__, (model,), {"Meta": meta, **indexes})


def bind_tables(config: Config) -> Tables:
    def bind(model: type[M], table_name: str, **indexes: Any) -> type[M]:
        return bind_model(model, table_name, config, **indexes)

    return Tables(
        projects=bind(ProjectItem, config.projects_table, by_domain=ProjectsByDomain()),
        api_keys=bind(ApiKeyItem, config.api_keys_table),
        users=bind(UserItem, config.users_table),
        events=bind(EventItem, config.events_table),
        templates=bind(TemplateItem, config.templates_table, by_project=TemplatesByProject()),
        messages=bind(MessageItem, config.messages_table),
        suppressions=bind(SuppressionItem, config.suppressions_table),
        stats=bind(StatsItem, config.stats_table),
        idempotency=bind(IdempotencyItem, config.idempotency_table),
        usage=bind(UsageItem, config.usage_table),
    )


def unavailable(exc: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"DynamoDB request failed: {type(exc).__name__}")


def is_condition_failure(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def load_item(model: type[M], hash_key: str, consistent: bool = False) -> M | None:
    try:
        return model.get(hash_key, consistent_read=consistent)
    except model.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise unavailable(exc) from exc


def save_item(item: Model, condition: Any = None) -> bool:
    """Conditional save; False when the condition did not hold (exists already, changed meanwhile)."""
    try:
        item.save(condition=condition)
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise unavailable(exc) from exc
    except PynamoDBException as exc:
        raise unavailable(exc) from exc
    return True


class DynamoProjects:
    def __init__(self, model: type[ProjectItem]) -> None:
        self._model = model

    def get(self, project_id: str) -> Project | None:
        item = load_item(self._model, project_id)
        return None if item is None else _project_from_item(item)

    def add(self, project: Project) -> None:
        if not save_item(self._item(project), self._model.project_id.does_not_exist()):
            raise Conflict(f"project {project.project_id} exists already")

    def update(self, project: Project) -> None:
        """Write the fields admins change; the domain check's state on the item stays as it is."""
        item = self._item(project)
        model = self._model
        domain = model.sending_domain.set(item.sending_domain) if item.sending_domain else model.sending_domain.remove()
        try:
            item.update(
                actions=[model.name.set(item.name), model.settings.set(item.settings), domain],
                condition=model.project_id.exists(),
            )
        except UpdateError as exc:
            if is_condition_failure(exc):
                raise NotFound(f"project {project.project_id} does not exist") from exc
            raise unavailable(exc) from exc
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def project_for_domain(self, domain: str) -> str | None:
        try:
            for item in self._model.by_domain.query(domain.lower(), limit=1):
                return str(item.project_id)
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return None

    def all(self) -> Iterator[Project]:
        try:
            for item in self._model.scan():
                yield _project_from_item(item)
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def _item(self, project: Project) -> ProjectItem:
        settings = project.settings
        return self._model(
            project.project_id,
            name=project.name,
            created_at=project.created_at,
            sending_domain=settings.sending_domain.lower() if settings.sending_domain else None,
            settings=json.dumps(asdict(settings), separators=(",", ":")),
        )


def _project_from_item(item: ProjectItem) -> Project:
    return Project(
        project_id=item.project_id,
        name=item.name,
        created_at=item.created_at,
        settings=_settings_from_json(item.settings),
        domain_readiness=readiness_from_json(item.domain_readiness),
    )


def _settings_from_json(text: str | None) -> MailSettings:
    if not text:
        return MailSettings()
    document = json.loads(text)
    document["mailgun_region"] = MailgunRegion(document.get("mailgun_region", "us"))
    known = {f.name for f in fields(MailSettings)}
    return MailSettings(**{k: v for k, v in document.items() if k in known})


def readiness_to_json(readiness: DomainReadiness) -> str:
    return json.dumps(
        {
            "domain": readiness.domain,
            "checked_at": readiness.checked_at.isoformat(),
            "passing_since": readiness.passing_since.isoformat() if readiness.passing_since else None,
            "failing": [name.value for name in readiness.failing],
        },
        separators=(",", ":"),
    )


def readiness_from_json(text: str | None) -> DomainReadiness | None:
    if not text:
        return None
    document = json.loads(text)
    since = document.get("passing_since")
    return DomainReadiness(
        domain=document["domain"],
        checked_at=datetime.fromisoformat(document["checked_at"]),
        passing_since=datetime.fromisoformat(since) if since else None,
        failing=tuple(CheckName(name) for name in document.get("failing", [])),
    )


class DynamoApiKeys:
    def __init__(self, model: type[ApiKeyItem]) -> None:
        self._model = model

    def get(self, key_hash: str) -> ApiKey | None:
        item = load_item(self._model, key_hash)
        if item is None:
            return None
        return ApiKey(
            key_hash=item.key_hash, project_id=item.project_id, kind=KeyKind(item.kind), created_at=item.created_at
        )

    def add(self, key: ApiKey) -> None:
        item = self._model(key.key_hash, project_id=key.project_id, kind=key.kind.value, created_at=key.created_at)
        if not save_item(item, self._model.key_hash.does_not_exist()):
            raise Conflict("the key exists already")


class DynamoUsers:
    def __init__(self, model: type[UserItem]) -> None:
        self._model = model

    def get(self, project_id: str, key: str, consistent: bool = False) -> UserProfile | None:
        item = load_item(self._model, f"{project_id}#{key}", consistent)
        return None if item is None else _profile_from_item(item)

    def save(self, profile: UserProfile, expected: UserProfile | None) -> bool:
        item = _item_from_profile(self._model, profile)
        # VersionAttribute makes save() conditional on the revision we read (or on absence).
        if expected is not None and expected.revision is not None:
            item.version = expected.revision
        return save_item(item)


def _profile_from_item(item: UserItem) -> UserProfile:
    return UserProfile(
        project_id=item.project_id,
        key=item.pk.split("#", 1)[1],
        created_at=item.created_at,
        updated_at=item.updated_at,
        email=item.email,
        email_canonical=item.email_canonical,
        subscription=item.subscription,
        subscription_changed_at=item.subscription_changed_at,
        locale=item.locale,
        timezone=item.timezone,
        attributes=_traits_of(item),
        identified_at=item.identified_at,
        alias_of=item.alias_of,
        revision=item.version,
    )


def _traits_of(item: UserItem) -> dict[str, Any]:
    if item.traits is None:
        return {}
    return dict(_plain(item.traits.as_dict()))  # type: ignore[no-untyped-call]


def _item_from_profile(model: type[UserItem], profile: UserProfile) -> UserItem:
    mailable = profile.mailable_address
    return model(
        f"{profile.project_id}#{profile.key}",
        project_id=profile.project_id,
        user_id=profile.user_id,
        kind="anonymous" if profile.is_anonymous else "user",
        created_at=profile.created_at,
        updated_at=profile.updated_at,
        email=profile.email,
        email_canonical=profile.email_canonical,
        email_key=f"{profile.project_id}#{profile.email_canonical}" if mailable else None,
        project_shard=f"{profile.project_id}#{shard_of(profile.key)}" if mailable else None,
        subscription=profile.subscription,
        subscription_changed_at=profile.subscription_changed_at,
        locale=profile.locale,
        timezone=profile.timezone,
        traits=profile.attributes or None,
        identified_at=profile.identified_at,
        alias_of=profile.alias_of,
    )


def _plain(value: Any) -> Any:
    """pynamodb returns DynamoDB numbers as float or Decimal; give templates plain ints where exact."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


class DynamoEvents:
    def __init__(self, model: type[EventItem]) -> None:
        self._model = model

    def add_once(self, project_id: str, message: TrackingMessage, expires_at: datetime) -> bool:
        item = self._model(
            f"{project_id}#{message.actor}",
            f"m:{message.message_id}",
            type=message.type.value,
            anonymous_id=message.anonymous_id if message.user_id is not None else None,
            event=message.event,
            name=message.name,
            ts=_iso(message.timestamp),
            received_at=_iso(message.received_at),
            payload=json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False),
            expires_at=int(expires_at.timestamp()),
        )
        return save_item(item, self._model.pk.does_not_exist())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stored_event_from_image(image: Mapping[str, Any]) -> StoredEvent:
    """A stream record's NewImage (already deserialised to Python values) as a stored event."""
    project_id, actor = str(image["pk"]).split("#", 1)
    return StoredEvent(
        project_id=project_id,
        actor=actor,
        message_id=str(image["sk"]).removeprefix("m:"),
        type=str(image["type"]),
        event=image.get("event"),
        ts=str(image["ts"]),
        anonymous_id=image.get("anonymous_id"),
        properties=_event_properties(image.get("payload")),
    )


def _event_properties(payload: Any) -> dict[str, Any]:
    try:
        document = json.loads(payload) if isinstance(payload, str) else {}
    except ValueError:
        return {}
    properties = document.get("properties") if isinstance(document, dict) else None
    return properties if isinstance(properties, dict) else {}
