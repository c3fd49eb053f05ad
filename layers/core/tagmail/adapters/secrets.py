"""Project secrets in SSM Parameter Store, one SecureString parameter per project."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tagmail.domain.settings import ProjectSecrets
from tagmail.errors import DependencyUnavailable

# Secrets change rarely (a key rotation); a warm container re-reads them every few minutes.
CACHE_SECONDS = 300.0
# Bounded, so lookups of made-up project ids (unsubscribe links, webhooks) cannot grow it for ever.
CACHE_ENTRIES = 1000


class SsmSecretStore:
    def __init__(
        self, ssm: Any, prefix: str, cache_seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ssm = ssm
        self._prefix = prefix.rstrip("/")
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, ProjectSecrets | None]] = {}

    def get(self, project_id: str) -> ProjectSecrets | None:
        cached = self._cache.get(project_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        try:
            answer = self._ssm.get_parameter(Name=self._name(project_id), WithDecryption=True)
            document = json.loads(answer["Parameter"]["Value"])
            secrets: ProjectSecrets | None = ProjectSecrets(
                unsubscribe_secret=document["unsubscribe_secret"],
                mailgun_api_key=document.get("mailgun_api_key"),
                webhook_signing_key=document.get("webhook_signing_key"),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
                raise DependencyUnavailable("SSM GetParameter failed") from exc
            secrets = None
        except BotoCoreError as exc:
            raise DependencyUnavailable("SSM GetParameter failed") from exc
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.clear()
        self._cache[project_id] = (self._clock() + self._cache_seconds, secrets)
        return secrets

    def put(self, project_id: str, secrets: ProjectSecrets) -> None:
        value = json.dumps(
            {
                "unsubscribe_secret": secrets.unsubscribe_secret,
                "mailgun_api_key": secrets.mailgun_api_key,
                "webhook_signing_key": secrets.webhook_signing_key,
            }
        )
        try:
            self._ssm.put_parameter(Name=self._name(project_id), Value=value, Type="SecureString", Overwrite=True)
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable("SSM PutParameter failed") from exc
        self._cache.pop(project_id, None)

    def _name(self, project_id: str) -> str:
        return f"{self._prefix}/{project_id}"
