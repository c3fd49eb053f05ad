"""In-memory implementations of the service ports, for unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tagmail.domain.projects import ApiKey, Project
from tagmail.domain.tracking import TrackingMessage
from tagmail.domain.users import UserProfile
from tagmail.errors import DependencyUnavailable


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
