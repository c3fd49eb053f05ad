"""Settings and the sending domain."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from tagmail import bootstrap
from tagmail.api.auth import ProjectId
from tagmail.api.models import DomainOut, SettingsIn, SettingsOut

router = Router()  # type: ignore[no-untyped-call]
TAGS = ["settings"]


@router.get("/settings", tags=TAGS, summary="The project's settings (secrets only as *_set flags)")
def get_settings(project_id: ProjectId) -> SettingsOut:
    return SettingsOut.of(bootstrap.settings_service().get(project_id))


@router.put(
    "/settings",
    tags=TAGS,
    summary="Replace the settings; a new domain, API key or API base sets the domain up at Mailgun",
)
def put_settings(project_id: ProjectId, body: SettingsIn) -> SettingsOut:
    return SettingsOut.of(bootstrap.settings_service().update(project_id, body.to_change()))


@router.get(
    "/domain",
    tags=TAGS,
    summary="The sending domain's readiness: DNS checks, when sending opens, the records to add (the last check; "
    "checked now if it never was)",
)
def get_domain(project_id: ProjectId) -> DomainOut:
    return DomainOut.of(bootstrap.domain_readiness_service().status(project_id))


@router.post("/domain/check", tags=TAGS, summary="Check the sending domain's DNS records now")
def check_domain(project_id: ProjectId) -> DomainOut:
    return DomainOut.of(bootstrap.domain_readiness_service().check(project_id))
