"""Read-back: campaign counters, one message's history, one user's profile."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from tagmail import bootstrap
from tagmail.api.auth import ProjectId
from tagmail.api.models import CampaignStatsOut, MessageOut, UserOut

router = Router()  # type: ignore[no-untyped-call]


@router.get("/campaigns/<campaign_id>/stats", tags=["campaigns"], summary="Counters per variant and in total")
def campaign_stats(project_id: ProjectId, campaign_id: str) -> CampaignStatsOut:
    counters = bootstrap.reports().campaign(project_id, campaign_id)
    return CampaignStatsOut(
        campaign_id=counters.campaign_id,
        variants={
            variant: {counter.value: value for counter, value in row.items()}
            for variant, row in counters.variants.items()
        },
        totals={counter.value: value for counter, value in counters.totals.items()},
    )


@router.get("/messages/<send_key>", tags=["messages"], summary="One mail: its status and status history")
def get_message(project_id: ProjectId, send_key: str) -> MessageOut:
    return MessageOut.of(bootstrap.reports().message(project_id, send_key))


@router.get("/users/<user_id>", tags=["users"], summary="A user's profile")
def get_user(project_id: ProjectId, user_id: str) -> UserOut:
    return UserOut.of(bootstrap.reports().user(project_id, user_id))
