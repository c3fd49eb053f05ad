"""Creating projects: the operator's act, done with the operator's AWS credentials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tagmail.domain.projects import ApiKey, KeyKind, Project, hash_key, new_key, new_project_id
from tagmail.domain.settings import ProjectSecrets
from tagmail.errors import InvalidInput
from tagmail.services.ports import ApiKeyRepository, Clock, ProjectRepository, SecretStore

MAX_PROJECT_NAME = 100


@dataclass(frozen=True)
class CreatedProject:
    """The only time the keys exist in clear: they are shown once and stored hashed."""

    project_id: str
    name: str
    write_key: str
    admin_key: str


class ProjectAdmin:
    def __init__(self, projects: ProjectRepository, keys: ApiKeyRepository, secrets: SecretStore, clock: Clock) -> None:
        self._projects = projects
        self._keys = keys
        self._secrets = secrets
        self._clock = clock

    def create_project(self, name: str) -> CreatedProject:
        name = name.strip()
        if not name or len(name) > MAX_PROJECT_NAME:
            raise InvalidInput(f"a project name of 1 to {MAX_PROJECT_NAME} characters is required", field="name")
        now = self._clock()
        project = Project(project_id=new_project_id(), name=name, created_at=now)
        write_key, admin_key = new_key(KeyKind.WRITE), new_key(KeyKind.ADMIN)
        # Secrets and keys first: a project row without them would be unusable, while secrets and
        # keys without a project are inert.
        self._secrets.put(project.project_id, ProjectSecrets(unsubscribe_secret=secrets.token_urlsafe(32)))
        for key, kind in ((write_key, KeyKind.WRITE), (admin_key, KeyKind.ADMIN)):
            self._keys.add(ApiKey(key_hash=hash_key(key), project_id=project.project_id, kind=kind, created_at=now))
        self._projects.add(project)
        return CreatedProject(project.project_id, project.name, write_key, admin_key)
