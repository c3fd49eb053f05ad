"""Campaigns: drafts, edits and the lifecycle. A running campaign's changes reach new entries only;
mails already scheduled keep their variant and pinned template version, unless a pause or an
archive cancels them."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from tagmail import bootstrap
from tagmail.api.auth import ProjectId
from tagmail.api.models import (
    CampaignActionOut,
    CampaignIn,
    CampaignListOut,
    CampaignOut,
    CampaignPatch,
    CampaignResultsOut,
)
from tagmail.domain.campaigns import CampaignAction
from tagmail.services.campaigns import ActionResult

router = Router()  # type: ignore[no-untyped-call]
TAGS = ["campaigns"]


def _acted(result: ActionResult) -> CampaignActionOut:
    return CampaignActionOut(**CampaignOut.of(result.campaign).model_dump(), stopped=result.stopped)


@router.get("/campaigns", tags=TAGS, summary="The project's campaigns, newest first")
def list_campaigns(project_id: ProjectId) -> CampaignListOut:
    return CampaignListOut(items=[CampaignOut.of(c) for c in bootstrap.campaign_admin().list(project_id)])


@router.post("/campaigns", tags=TAGS, status_code=201, summary="Draft a campaign (variants pin template versions)")
def create_campaign(project_id: ProjectId, body: CampaignIn) -> CampaignOut:
    return CampaignOut.of(bootstrap.campaign_admin().create(project_id, body.to_draft()))


@router.get("/campaigns/<campaign_id>", tags=TAGS, summary="A campaign")
def get_campaign(project_id: ProjectId, campaign_id: str) -> CampaignOut:
    return CampaignOut.of(bootstrap.campaign_admin().get(project_id, campaign_id))


@router.patch(
    "/campaigns/<campaign_id>",
    tags=TAGS,
    summary="Replace parts of a campaign (scheduled mails keep what they were scheduled with)",
)
def update_campaign(project_id: ProjectId, campaign_id: str, body: CampaignPatch) -> CampaignOut:
    return CampaignOut.of(bootstrap.campaign_admin().update(project_id, campaign_id, body.to_edit()))


@router.post("/campaigns/<campaign_id>/activate", tags=TAGS, summary="Start a draft")
def activate_campaign(project_id: ProjectId, campaign_id: str) -> CampaignActionOut:
    return _acted(bootstrap.campaign_admin().act(project_id, campaign_id, CampaignAction.ACTIVATE))


@router.post("/campaigns/<campaign_id>/pause", tags=TAGS, summary="Stop new entries and cancel pending mails")
def pause_campaign(project_id: ProjectId, campaign_id: str) -> CampaignActionOut:
    return _acted(bootstrap.campaign_admin().act(project_id, campaign_id, CampaignAction.PAUSE))


@router.post("/campaigns/<campaign_id>/resume", tags=TAGS, summary="Take new entries again")
def resume_campaign(project_id: ProjectId, campaign_id: str) -> CampaignActionOut:
    return _acted(bootstrap.campaign_admin().act(project_id, campaign_id, CampaignAction.RESUME))


@router.post("/campaigns/<campaign_id>/archive", tags=TAGS, summary="End a campaign for good, cancelling pending mails")
def archive_campaign(project_id: ProjectId, campaign_id: str) -> CampaignActionOut:
    return _acted(bootstrap.campaign_admin().act(project_id, campaign_id, CampaignAction.ARCHIVE))


@router.get(
    "/campaigns/<campaign_id>/results",
    tags=TAGS,
    summary="Per variant and holdout: entries, sends, opens, clicks, conversions, revenue and lift",
)
def campaign_results(project_id: ProjectId, campaign_id: str) -> CampaignResultsOut:
    return CampaignResultsOut.of(bootstrap.campaign_results().results(project_id, campaign_id))
