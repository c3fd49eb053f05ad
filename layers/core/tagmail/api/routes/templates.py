"""Templates, their immutable versions, previews and test sends."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from tagmail import bootstrap
from tagmail.api.auth import ProjectId
from tagmail.api.models import (
    PreviewIn,
    PreviewOut,
    TemplateDetailOut,
    TemplateIn,
    TemplateListOut,
    TemplateOut,
    TestSendIn,
    TestSendOut,
    VersionIn,
)
from tagmail.domain.templates import MailContent
from tagmail.services.preview import PreviewCommand, TestSendCommand
from tagmail.services.templates import VersionDraft

router = Router()  # type: ignore[no-untyped-call]
TAGS = ["templates"]


def _draft(contents: dict[str, MailContent], default_locale: str) -> VersionDraft:
    return VersionDraft(contents=contents, default_locale=default_locale)


@router.get("/templates", tags=TAGS, summary="The project's templates")
def list_templates(project_id: ProjectId) -> TemplateListOut:
    return TemplateListOut(items=[TemplateOut.of(t) for t in bootstrap.template_admin().list(project_id)])


@router.post("/templates", tags=TAGS, status_code=201, summary="Create a template with its first version")
def create_template(project_id: ProjectId, body: TemplateIn) -> TemplateDetailOut:
    contents = {locale: content.to_content() for locale, content in body.contents.items()}
    created = bootstrap.template_admin().create(project_id, body.name, _draft(contents, body.default_locale))
    return TemplateDetailOut.of_pair(created.template, created.version)


@router.get("/templates/<template_id>", tags=TAGS, summary="A template with its latest (or a given) version")
def get_template(
    project_id: ProjectId, template_id: str, version: Annotated[int | None, Query(ge=1)] = None
) -> TemplateDetailOut:
    found = bootstrap.template_admin().get(project_id, template_id, version)
    return TemplateDetailOut.of_pair(found.template, found.version)


@router.post(
    "/templates/<template_id>/versions",
    tags=TAGS,
    status_code=201,
    summary="Add a new immutable version (409 when another was added meanwhile)",
)
def add_version(project_id: ProjectId, template_id: str, body: VersionIn) -> TemplateDetailOut:
    contents = {locale: content.to_content() for locale, content in body.contents.items()}
    added = bootstrap.template_admin().add_version(
        project_id, template_id, _draft(contents, body.default_locale), based_on=body.based_on_version
    )
    return TemplateDetailOut.of_pair(added.template, added.version)


@router.post("/preview", tags=TAGS, summary="Render an unsaved or saved template for a user or sample data")
def preview(project_id: ProjectId, body: PreviewIn) -> PreviewOut:
    command = PreviewCommand(
        content=body.content.to_content() if body.content else None,
        template_id=body.template_id,
        version=body.version,
        locale=body.locale,
        data=body.sample(),
    )
    return PreviewOut.of(bootstrap.preview_service().preview(project_id, command))


@router.post("/test-send", tags=TAGS, status_code=202, summary="Queue a test mail of a saved template")
def test_send(project_id: ProjectId, body: TestSendIn) -> TestSendOut:
    command = TestSendCommand(
        to=body.to, template_id=body.template_id, version=body.version, locale=body.locale, data=body.sample()
    )
    return TestSendOut.of(bootstrap.test_send_service().send(project_id, command))
