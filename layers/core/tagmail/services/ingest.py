"""Collecting users and their behaviour from the tracking API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tagmail.domain.projects import KeyKind
from tagmail.domain.tracking import Endpoint, MessageType, TrackingMessage, parse_request
from tagmail.domain.users import UserProfile, absorb_anonymous, anonymous_key, apply_traits, link_to_user, user_key
from tagmail.observability import count
from tagmail.services.keys import KeyResolver
from tagmail.services.ports import Clock, EventRepository, UserRepository
from tagmail.services.profiles import ProfileUpdater


@dataclass(frozen=True)
class IngestCommand:
    endpoint: Endpoint
    body: bytes
    # The write key from HTTP Basic auth (Segment's convention); the body's writeKey is the fallback.
    write_key: str | None = None


@dataclass(frozen=True)
class IngestResult:
    project_id: str
    stored: int
    duplicates: int


class IngestService:
    def __init__(
        self,
        keys: KeyResolver,
        users: UserRepository,
        events: EventRepository,
        clock: Clock,
        retention: timedelta,
    ) -> None:
        self._keys = keys
        self._profiles = ProfileUpdater(users, clock)
        self._events = events
        self._clock = clock
        self._retention = retention

    def ingest(self, command: IngestCommand) -> IngestResult:
        received_at = self._clock()
        request = parse_request(command.endpoint, command.body, received_at)
        project_id = self._keys.project_for(command.write_key or request.write_key, KeyKind.WRITE)
        stored = duplicates = 0
        # Messages are applied in order; a failure part-way leaves the earlier ones stored, and the
        # client's retry of the whole request is deduplicated message by message.
        for message in request.messages:
            if self._apply(project_id, message):
                stored += 1
            else:
                duplicates += 1
        count("TrackedMessages", stored)
        if duplicates:
            count("DuplicateMessages", duplicates)
        return IngestResult(project_id=project_id, stored=stored, duplicates=duplicates)

    def _apply(self, project_id: str, message: TrackingMessage) -> bool:
        # The profile first: it is idempotent, while the event write is the dedupe gate, so a crash
        # between the two is repaired by the retry instead of losing the profile change.
        traits = message.traits
        if message.type is MessageType.IDENTIFY and traits is not None:
            key = user_key(message.user_id) if message.user_id else anonymous_key(message.anonymous_id or "")
            self._profiles.update(project_id, key, lambda p: apply_traits(p, traits, message.timestamp, self._clock()))
        if message.user_id and message.type in (MessageType.IDENTIFY, MessageType.ALIAS):
            anonymous_id = message.previous_id if message.type is MessageType.ALIAS else message.anonymous_id
            if anonymous_id and anonymous_id != message.user_id:
                self._link(project_id, anonymous_id, message.user_id)
        return self._events.add_once(project_id, message, message.received_at + self._retention)

    def _link(self, project_id: str, anonymous_id: str, user_id: str) -> None:
        """Link an anonymous visitor to the user: their events belong to the user from now on, and
        what they told us anonymously moves into the user's profile once."""
        linked: list[UserProfile] = []

        def mark_alias(anonymous: UserProfile) -> UserProfile | None:
            linked.clear()  # only the attempt that wins counts
            if anonymous.alias_of is not None:
                return None  # an anonymous id stays with the first user it was linked to
            linked.append(anonymous)
            return link_to_user(anonymous, user_id, self._clock())

        self._profiles.update(project_id, anonymous_key(anonymous_id), mark_alias)
        if linked and linked[-1].identified_at is not None:
            anonymous = linked[-1]
            self._profiles.update(
                project_id, user_key(user_id), lambda u: absorb_anonymous(u, anonymous, self._clock())
            )
