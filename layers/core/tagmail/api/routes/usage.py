"""Sending counts against the project's limits."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from tagmail import bootstrap
from tagmail.api.auth import ProjectId
from tagmail.api.models import UsageOut

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/usage",
    tags=["usage"],
    summary="This month's sends against the monthly limit, the notices sent, and the 24-hour and per-second use",
)
def get_usage(project_id: ProjectId) -> UsageOut:
    return UsageOut.of(bootstrap.usage_reports().usage(project_id))
