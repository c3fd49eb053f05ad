"""Previews and test sends: a saved or unsaved template rendered for a stored user or sample data,
exactly as the send path renders it (same variables, same footer)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tagmail.domain.email import InvalidEmail, parse_email
from tagmail.domain.projects import Project
from tagmail.domain.sending import DIRECT, SendKind, SendRequest
from tagmail.domain.templates import MailContent, TemplateRenderError
from tagmail.domain.unsubscribe import UnsubscribeClaim
from tagmail.domain.users import UserProfile, user_key
from tagmail.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from tagmail.observability import count, logger
from tagmail.services.ports import (
    ProjectRepository,
    Renderer,
    SecretStore,
    SendQueue,
    TemplateChecker,
    TemplateRepository,
    UserRepository,
)
from tagmail.services.send import mail_variables, marketing_footer, unsubscribe_link
from tagmail.services.templates import check_content

# Stands in for the recipient when sample data names no address.
SAMPLE_ADDRESS = "recipient@example.com"
# A send request travels as one SQS message (256 KB at most).
MAX_SEND_REQUEST_BYTES = 200_000


@dataclass(frozen=True)
class SampleData:
    """Whom to render for: a stored user (`user_id`) or sample `user` attributes; `event` is the
    event a trigger mail would carry."""

    user_id: str | None = None
    user: Mapping[str, Any] | None = None
    event: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PreviewCommand:
    """Either `content` (unsaved) or `template_id` (saved; `version` None means the latest)."""

    content: MailContent | None = None
    template_id: str | None = None
    version: int | None = None
    locale: str | None = None
    data: SampleData = SampleData()


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str
    locale: str
    template_id: str | None
    template_version: int | None


@dataclass(frozen=True)
class TestSendCommand:
    __test__ = False  # a command, not a pytest class
    to: str
    template_id: str
    version: int | None = None
    locale: str | None = None
    data: SampleData = SampleData()


@dataclass(frozen=True)
class QueuedTestSend:
    send_key: str
    template_id: str
    template_version: int


@dataclass(frozen=True)
class _Source:
    content: MailContent
    locale: str
    template_id: str | None
    version: int | None


class PreviewService:
    def __init__(
        self,
        *,
        projects: ProjectRepository,
        secrets: SecretStore,
        users: UserRepository,
        templates: TemplateRepository,
        renderer: Renderer,
        checker: TemplateChecker,
        public_base_url: str,
    ) -> None:
        self._projects = projects
        self._secrets = secrets
        self._users = users
        self._templates = templates
        self._renderer = renderer
        self._checker = checker
        self._public_base_url = public_base_url.rstrip("/")

    def preview(self, project_id: str, command: PreviewCommand, to: str | None = None) -> Preview:
        project = self.project(project_id)
        profile = self._profile(project_id, command.data)
        source = self._source(project, command, profile)
        settings = project.settings
        address = to or (profile.email if profile and profile.email else None) or _sample_address(command.data)
        # The link a test send carries: it names no user, so following it unsubscribes nobody.
        secrets = self._secrets.get(project_id)
        unsubscribe_url = (
            unsubscribe_link(self._public_base_url, secrets, UnsubscribeClaim(project_id, "test", DIRECT))
            if secrets is not None
            else f"{self._public_base_url}/u/preview"
        )
        variables = mail_variables(
            settings,
            profile=profile,
            address=address,
            event=command.data.event,
            unsubscribe_url=unsubscribe_url,
            extra={"user": dict(command.data.user)} if command.data.user is not None else None,
        )
        where = "content" if command.content is not None else f"contents.{source.locale}"
        try:
            rendered = self._renderer.render(
                source.content, variables, footer=marketing_footer(settings, unsubscribe_url, source.locale)
            )
        except TemplateRenderError as exc:
            raise TemplateRenderError(
                exc.message, field=f"{where}.{exc.field}" if exc.field else where, line=exc.line, variable=exc.variable
            ) from exc
        return Preview(
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            locale=source.locale,
            template_id=source.template_id,
            template_version=source.version,
        )

    def project(self, project_id: str) -> Project:
        project = self._projects.get(project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        return project

    def _source(self, project: Project, command: PreviewCommand, profile: UserProfile | None) -> _Source:
        wanted = command.locale or (profile.locale if profile else None) or project.settings.default_locale
        if command.content is not None:
            if command.template_id is not None:
                raise InvalidInput("give either content or template_id, not both", field="template_id")
            check_content(self._checker, command.content, "content")
            return _Source(command.content, wanted, None, None)
        if not command.template_id:
            raise InvalidInput("give the content to render or the template_id of a saved template", field="content")
        version = self._templates.get_version(project.project_id, command.template_id, command.version)
        if version is None:
            suffix = f" version {command.version}" if command.version is not None else ""
            raise NotFound(f"template {command.template_id}{suffix} does not exist")
        locale = version.locale_for(wanted)
        return _Source(version.contents[locale], locale, command.template_id, version.version)

    def _profile(self, project_id: str, data: SampleData) -> UserProfile | None:
        if data.user_id is None:
            return None
        if data.user is not None:
            raise InvalidInput("give either user_id (a stored user) or user (sample data), not both", field="user")
        profile = self._users.get(project_id, user_key(data.user_id), consistent=True)
        if profile is not None and profile.alias_of is not None:
            profile = self._users.get(project_id, user_key(profile.alias_of), consistent=True)
        if profile is None:
            raise NotFound(f"user {data.user_id} does not exist")
        return profile


class TestSendService:
    """A test send goes the one send path: rendered here first (so a broken template is a 400 now,
    not a dead letter later), then queued as a SendRequest of kind TEST."""

    __test__ = False  # a service, not a pytest class

    def __init__(self, *, previews: PreviewService, secrets: SecretStore, queue: SendQueue) -> None:
        self._previews = previews
        self._secrets = secrets
        self._queue = queue

    def send(self, project_id: str, command: TestSendCommand) -> QueuedTestSend:
        try:
            to = parse_email(command.to).given
        except InvalidEmail as exc:
            raise InvalidInput(f"{command.to!r} is not a valid e-mail address: it {exc}", field="to") from exc
        project = self._previews.project(project_id)
        self._check_ready(project)
        preview = self._previews.preview(
            project_id,
            PreviewCommand(
                template_id=command.template_id, version=command.version, locale=command.locale, data=command.data
            ),
            to=to,
        )
        data = command.data
        request = SendRequest(
            project_id=project_id,
            kind=SendKind.TEST,
            template_id=command.template_id,
            occurrence=uuid.uuid4().hex,
            # The version just rendered is the one sent, even if another is saved meanwhile.
            template_version=preview.template_version,
            user_key=user_key(data.user_id) if data.user_id else None,
            to=to,
            locale=command.locale,
            event=dict(data.event) if data.event is not None else None,
            variables={"user": dict(data.user)} if data.user is not None else {},
        )
        if len(request.to_json().encode("utf-8")) > MAX_SEND_REQUEST_BYTES:
            raise PayloadTooLarge(
                f"the sample data is too large (at most {MAX_SEND_REQUEST_BYTES} bytes)", field="user"
            )
        self._queue.enqueue(request)
        count("TestSendsQueued")
        logger().info("test send queued", project_id=project_id, send_key=request.send_key)
        return QueuedTestSend(request.send_key, command.template_id, preview.template_version or 0)

    def _check_ready(self, project: Project) -> None:
        settings = project.settings
        missing = [
            name
            for name, present in (
                ("sending_domain", settings.sending_domain),
                ("sender_address", settings.sender_address),
            )
            if not present
        ]
        secrets = self._secrets.get(project.project_id)
        if secrets is None or not secrets.mailgun_api_key:
            missing.append("mailgun_api_key")
        if missing:
            raise Conflict(f"the project cannot send yet; set {', '.join(missing)} with PUT /admin/v1/settings")
        if not settings.enabled:
            raise Conflict("sending is disabled for this project (settings.enabled is false)")


def _sample_address(data: SampleData) -> str:
    given = data.user.get("email") if data.user is not None else None
    return given if isinstance(given, str) and given else SAMPLE_ADDRESS
