"""Saved templates as admins manage them: create, list, read, and add immutable versions."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from tagmail.domain.templates import InvalidTemplate, MailContent, Template, TemplateVersion
from tagmail.errors import Conflict, InvalidInput, NotFound
from tagmail.observability import count
from tagmail.services.ports import Clock, TemplateChecker, TemplateStore


@dataclass(frozen=True)
class VersionDraft:
    """The contents of a version to be written: one per locale, and the fallback locale."""

    contents: Mapping[str, MailContent]
    default_locale: str


@dataclass(frozen=True)
class TemplateWithVersion:
    template: Template
    version: TemplateVersion


def new_template_id() -> str:
    return f"t{secrets.token_hex(8)}"


class TemplateAdmin:
    def __init__(self, *, templates: TemplateStore, checker: TemplateChecker, clock: Clock) -> None:
        self._templates = templates
        self._checker = checker
        self._clock = clock

    def list(self, project_id: str) -> list[Template]:
        return sorted(self._templates.list(project_id), key=lambda template: (template.name.lower(), template.id))

    def create(self, project_id: str, name: str, draft: VersionDraft) -> TemplateWithVersion:
        now = self._clock()
        template = Template(
            id=new_template_id(),
            project_id=project_id,
            name=name.strip(),
            latest_version=1,
            created_at=now,
            updated_at=now,
        )
        version = self._version(template.id, 1, draft)
        self._templates.add_version(project_id, template, version)
        count("TemplatesCreated")
        return TemplateWithVersion(template, version)

    def get(self, project_id: str, template_id: str, version: int | None = None) -> TemplateWithVersion:
        template = self._template(project_id, template_id)
        found = self._templates.get_version(project_id, template_id, version)
        if found is None:
            raise NotFound(f"template {template_id} has no version {version}")
        return TemplateWithVersion(template, found)

    def add_version(
        self, project_id: str, template_id: str, draft: VersionDraft, based_on: int | None = None
    ) -> TemplateWithVersion:
        """Write the next version. `based_on` is the version the editor started from: if another
        version was added since, this is a Conflict instead of a silent overwrite of their work."""
        template = self._template(project_id, template_id)
        if based_on is not None and based_on != template.latest_version:
            raise Conflict(
                f"template {template_id} is at version {template.latest_version}, not {based_on}; "
                "read it again and reapply your change"
            )
        now = self._clock()
        number = template.next_version
        version = self._version(template.id, number, draft)
        updated = Template(
            id=template.id,
            project_id=project_id,
            name=template.name,
            latest_version=number,
            created_at=template.created_at,
            updated_at=now,
        )
        self._templates.add_version(project_id, updated, version)  # Conflict if a writer came first
        count("TemplateVersionsAdded")
        return TemplateWithVersion(updated, version)

    def _template(self, project_id: str, template_id: str) -> Template:
        template = self._templates.get(project_id, template_id)
        if template is None:
            raise NotFound(f"template {template_id} does not exist")
        return template

    def _version(self, template_id: str, number: int, draft: VersionDraft) -> TemplateVersion:
        for locale, content in draft.contents.items():
            check_content(self._checker, content, f"contents.{locale}")
        return TemplateVersion(
            template_id=template_id,
            version=number,
            created_at=self._clock(),
            contents=dict(draft.contents),
            default_locale=draft.default_locale,
        )


def check_content(checker: TemplateChecker, content: MailContent, where: str) -> None:
    """Compile a content's parts; the error names the place (`contents.ja.html`) and line."""
    try:
        checker.validate(content)
    except InvalidTemplate as exc:
        field = f"{where}.{exc.field}" if exc.field else where
        raise InvalidTemplate(exc.message, field=field, line=exc.line) from exc
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"{where}.{exc.field}" if exc.field else where) from exc
