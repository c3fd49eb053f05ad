"""Unsubscribing through the link in every marketing mail (and RFC 8058 one-click), and subscribing again."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from tagmail.domain.stats import Counter
from tagmail.domain.unsubscribe import UnsubscribeClaim, read_token
from tagmail.errors import NotFound
from tagmail.observability import count, logger
from tagmail.services.ports import Clock, ProjectRepository, SecretStore, StatsRepository, UserRepository
from tagmail.services.profiles import ProfileUpdater

# Counters of unsubscribes through the link are per campaign, not per variant (the link names none).
ANY_VARIANT = "-"
# A token names its project; only a plausible project id is looked up in the secret store.
_PROJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UnsubscribeAction(StrEnum):
    VIEW = "view"  # GET: shows the page and changes nothing (mail scanners fetch links)
    UNSUBSCRIBE = "unsubscribe"  # the page's button, or a mailbox provider's one-click POST
    RESUBSCRIBE = "resubscribe"


@dataclass(frozen=True)
class UnsubscribeCommand:
    token: str
    action: UnsubscribeAction


@dataclass(frozen=True)
class UnsubscribeResult:
    action: UnsubscribeAction
    sender_name: str
    default_locale: str
    # The recipient's consent as it stands now; None when the link names no profile.
    subscribed: bool | None = None
    changed: bool = False
    profile_locale: str | None = None
    # The link of a test send: it names no user, so it shows the pages and changes nothing.
    test_link: bool = False


class UnsubscribeService:
    def __init__(
        self,
        *,
        projects: ProjectRepository,
        secrets: SecretStore,
        users: UserRepository,
        stats: StatsRepository,
        clock: Clock,
    ) -> None:
        self._projects = projects
        self._secrets = secrets
        self._users = users
        self._stats = stats
        self._profiles = ProfileUpdater(users, clock)

    def handle(self, command: UnsubscribeCommand) -> UnsubscribeResult:
        """Verify the link, then show or change the consent of the user it names (and nobody else)."""
        claim = read_token(command.token, self._secret_for)
        project = self._projects.get(claim.project_id)
        if project is None:
            raise NotFound("the unsubscribe link is not valid")
        settings = project.settings
        result = UnsubscribeResult(
            action=command.action,
            sender_name=settings.sender_name or settings.sender_address or project.name,
            default_locale=settings.default_locale,
        )
        if not claim.user_key.startswith(("u:", "a:")):
            return replace(result, test_link=True)
        key = self._profiles.resolve(claim.project_id, claim.user_key)
        if command.action is UnsubscribeAction.VIEW:
            profile = self._users.get(claim.project_id, key, consistent=True)
            changed = False
        else:
            subscribed = command.action is UnsubscribeAction.RESUBSCRIBE
            update = self._profiles.set_subscription(claim.project_id, key, subscribed)
            profile, changed = update.profile, update.changed
            if changed:
                self._record_change(claim, subscribed)
        if profile is None:
            return replace(result, changed=changed)
        return replace(result, subscribed=profile.subscription, changed=changed, profile_locale=profile.locale)

    def _record_change(self, claim: UnsubscribeClaim, subscribed: bool) -> None:
        logger().info(
            "subscription changed by link",
            project_id=claim.project_id,
            campaign_id=claim.campaign_id,
            subscribed=subscribed,
        )
        if subscribed:
            count("Resubscribes")
            return
        count("Unsubscribes")
        self._stats.add(claim.project_id, claim.campaign_id, ANY_VARIANT, {Counter.UNSUBSCRIBED: 1})

    def _secret_for(self, project_id: str) -> str | None:
        if not _PROJECT_ID.match(project_id):
            return None
        secrets = self._secrets.get(project_id)
        return secrets.unsubscribe_secret if secrets is not None else None
