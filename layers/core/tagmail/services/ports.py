"""What the services need from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from tagmail.domain.projects import ApiKey, Project
from tagmail.domain.tracking import TrackingMessage
from tagmail.domain.users import UserProfile

Clock = Callable[[], datetime]


class ApiKeyRepository(Protocol):
    def get(self, key_hash: str) -> ApiKey | None: ...

    def add(self, key: ApiKey) -> None: ...


class ProjectRepository(Protocol):
    def get(self, project_id: str) -> Project | None: ...

    def add(self, project: Project) -> None: ...


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
