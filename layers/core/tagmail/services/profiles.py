"""Changing one user profile safely while others may change it too (optimistic read-modify-write)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from tagmail.domain.users import UserProfile, user_key
from tagmail.errors import Conflict
from tagmail.services.ports import Clock, UserRepository

# Optimistic writes of one profile rarely collide; when they do, re-read and apply the change again.
MAX_PROFILE_ATTEMPTS = 5

ProfileChange = Callable[[UserProfile], UserProfile | None]


@dataclass(frozen=True)
class ProfileUpdate:
    profile: UserProfile | None  # as stored after the update (None: no such profile)
    changed: bool


class ProfileUpdater:
    def __init__(self, users: UserRepository, clock: Clock) -> None:
        self._users = users
        self._clock = clock

    def update(
        self, project_id: str, key: str, change: ProfileChange, *, create: bool = True, consistent: bool = False
    ) -> ProfileUpdate:
        """Apply `change` (None: nothing to do) and write it if the profile did not move meanwhile;
        otherwise read again and retry. `create=False` leaves a missing profile missing."""
        for _ in range(MAX_PROFILE_ATTEMPTS):
            current = self._users.get(project_id, key, consistent=consistent)
            if current is None and not create:
                return ProfileUpdate(None, changed=False)
            base = current or UserProfile.new(project_id, key, self._clock())
            updated = change(base)
            if updated is None or (current is not None and replace(updated, updated_at=current.updated_at) == current):
                return ProfileUpdate(current, changed=False)
            if self._users.save(updated, expected=current):
                return ProfileUpdate(updated, changed=True)
            consistent = True
        raise Conflict("the profile is being changed by too many requests at once; retry")

    def resolve(self, project_id: str, key: str) -> str:
        """The key of the profile that stands for `key`: an anonymous visitor linked to a user is that user."""
        profile = self._users.get(project_id, key, consistent=True)
        if profile is not None and profile.alias_of is not None:
            return user_key(profile.alias_of)
        return key

    def set_subscription(
        self, project_id: str, key: str, subscribed: bool, at: datetime | None = None
    ) -> ProfileUpdate:
        """Record the user's consent at once (strongly consistent), never creating a profile."""

        def change(profile: UserProfile) -> UserProfile | None:
            if profile.subscription is subscribed:
                return None
            now = self._clock()
            return replace(profile, subscription=subscribed, subscription_changed_at=at or now, updated_at=now)

        return self.update(project_id, key, change, create=False, consistent=True)
