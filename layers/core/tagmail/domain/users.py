"""User profiles: merge rules for identify traits and for linking anonymous visitors to users."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tagmail.domain.tracking import ProfileTraits

# A project's users are spread over this many index keys so list deliveries can read them in
# parallel without a hot partition.
USER_SHARDS = 16


def user_key(user_id: str) -> str:
    return f"u:{user_id}"


def anonymous_key(anonymous_id: str) -> str:
    return f"a:{anonymous_id}"


def shard_of(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=2).digest(), "big") % USER_SHARDS


@dataclass(frozen=True)
class UserProfile:
    project_id: str
    key: str
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    email_canonical: str | None = None
    subscription: bool | None = None
    subscription_changed_at: datetime | None = None
    locale: str | None = None
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # Event time of the newest identify applied: older ones arriving late only fill gaps.
    identified_at: datetime | None = None
    # Set on an anonymous profile once the visitor is identified as this user id.
    alias_of: str | None = None
    # The stored revision this profile was read at; writes are conditional on it (optimistic locking).
    revision: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.key.startswith("a:")

    @property
    def user_id(self) -> str:
        return self.key[2:]

    @property
    def mailable_address(self) -> bool:
        """Whether this profile is one recipient of the project (aliases merged into a user are not)."""
        return self.alias_of is None and self.email_canonical is not None

    @classmethod
    def new(cls, project_id: str, key: str, now: datetime) -> UserProfile:
        return cls(project_id=project_id, key=key, created_at=now, updated_at=now)


def apply_traits(profile: UserProfile, traits: ProfileTraits, at: datetime, now: datetime) -> UserProfile:
    """Later traits overwrite, absent traits are kept; an identify older than the newest applied
    one only fills traits the profile does not have yet."""
    newer = profile.identified_at is None or at >= profile.identified_at

    def pick(current: Any, given: Any) -> Any:
        if given is None:
            return current
        return given if newer or current is None else current

    email, canonical = profile.email, profile.email_canonical
    if traits.email is not None and (newer or canonical is None):
        email, canonical = traits.email.given, traits.email.canonical

    subscription = pick(profile.subscription, traits.subscription)
    changed_at = profile.subscription_changed_at
    if subscription != profile.subscription:
        changed_at = at

    attributes = dict(profile.attributes)
    for name, value in traits.attributes.items():
        if newer or name not in attributes:
            attributes[name] = value

    return replace(
        profile,
        email=email,
        email_canonical=canonical,
        subscription=subscription,
        subscription_changed_at=changed_at,
        locale=pick(profile.locale, traits.locale) or traits.context_locale,
        timezone=pick(profile.timezone, traits.timezone) or traits.context_timezone,
        attributes=attributes,
        identified_at=at if newer else profile.identified_at,
        updated_at=now,
    )


def absorb_anonymous(user: UserProfile, anonymous: UserProfile, now: datetime) -> UserProfile:
    """Carry what an anonymous visitor told us into the user they turned out to be; what the user
    profile already has wins, because the anonymous traits are older."""
    email, canonical = user.email, user.email_canonical
    if canonical is None:
        email, canonical = anonymous.email, anonymous.email_canonical
    subscription, changed_at = user.subscription, user.subscription_changed_at
    if subscription is None:
        subscription, changed_at = anonymous.subscription, anonymous.subscription_changed_at
    return replace(
        user,
        email=email,
        email_canonical=canonical,
        subscription=subscription,
        subscription_changed_at=changed_at,
        locale=user.locale or anonymous.locale,
        timezone=user.timezone or anonymous.timezone,
        attributes={**anonymous.attributes, **user.attributes},
        updated_at=now,
    )


def link_to_user(anonymous: UserProfile, user_id: str, now: datetime) -> UserProfile:
    return replace(anonymous, alias_of=user_id, updated_at=now)
