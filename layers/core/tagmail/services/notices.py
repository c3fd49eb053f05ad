"""Notices to a project's notification address (quota thresholds, broken DNS records, ...), each
queued at most once per idempotency key and sent through the one send path as operational mail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tagmail.domain.notices import NoticeKind
from tagmail.domain.sending import SendKind, SendRequest
from tagmail.errors import TagmailError
from tagmail.observability import count, logger
from tagmail.services.ports import Clock, IdempotencyStore, ProjectRepository, SendQueue

# A claimed notice key is kept longer than any period a key names (a month, a day).
CLAIM_RETENTION = timedelta(days=400)


class Notifier:
    def __init__(
        self, *, projects: ProjectRepository, claims: IdempotencyStore, queue: SendQueue, clock: Clock
    ) -> None:
        self._projects = projects
        self._claims = claims
        self._queue = queue
        self._clock = clock

    def notify(self, project_id: str, kind: NoticeKind, variables: Mapping[str, Any], idempotency_key: str) -> bool:
        """Queue the notice unless `idempotency_key` was claimed before. True when queued now; False
        when it was queued before (by this or a concurrent caller) or the project has no
        notification address. Raises when it could not be queued, leaving the key free for a retry."""
        project = self._projects.get(project_id)
        address = project.settings.notification_address if project is not None else None
        if project is None or not address:
            return False
        if not self._claims.claim(idempotency_key, until=self._clock() + CLAIM_RETENTION):
            return False
        request = SendRequest(
            project_id=project_id,
            kind=SendKind.OPERATIONAL,
            template_id=kind.template_id,
            # The key is also the send's occurrence: a notice queued twice is still sent once.
            occurrence=idempotency_key,
            to=address,
            locale=project.settings.default_locale,
            variables={"project_name": project.name, **variables},
        )
        try:
            self._queue.enqueue(request)
        except TagmailError:
            self._release(idempotency_key)
            raise
        count("NoticesQueued")
        logger().info("notice queued", project_id=project_id, notice=kind.value)
        return True

    def _release(self, key: str) -> None:
        try:
            self._claims.release(key)
        except TagmailError:
            # The claim outlives its notice: this one notice is lost, never sent twice.
            logger().error("notice claim not released", key=key)
