"""The suppression list: addresses the project never mails, with CSV import and export."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from tagmail import bootstrap
from tagmail.api.auth import ProjectId
from tagmail.api.models import ImportOut, SuppressionIn, SuppressionOut, SuppressionPageOut
from tagmail.errors import InvalidInput
from tagmail.services.suppressions import MAX_PAGE

router = Router()  # type: ignore[no-untyped-call]
TAGS = ["suppressions"]
CSV = "text/csv; charset=utf-8"
JSON = "application/json; charset=utf-8"


@router.get("/suppressions", tags=TAGS, summary="A page of suppressed addresses, in address order")
def list_suppressions(
    project_id: ProjectId,
    after: Annotated[str | None, Query(max_length=254)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> SuppressionPageOut:
    items, next_after = bootstrap.suppression_admin().list(project_id, after, limit)
    return SuppressionPageOut(items=[SuppressionOut.of(item) for item in items], next_after=next_after)


@router.post("/suppressions", tags=TAGS, summary="Suppress an address (reason manual); 200 if it was already")
def add_suppression(project_id: ProjectId, body: SuppressionIn) -> Response[SuppressionOut]:
    item, added = bootstrap.suppression_admin().add(project_id, body.address, body.detail)
    return Response(status_code=201 if added else 200, content_type=JSON, body=SuppressionOut.of(item))


@router.delete("/suppressions/<address>", tags=TAGS, status_code=204, summary="Mail this address again")
def remove_suppression(project_id: ProjectId, address: str) -> Response[None]:
    bootstrap.suppression_admin().remove(project_id, unquote(address))
    return Response(status_code=204)


@router.post(
    "/suppressions/import",
    tags=TAGS,
    summary="Import a CSV (header address[,reason]; at most 5 MB); all lines are checked before any is written",
)
def import_suppressions(project_id: ProjectId) -> ImportOut:
    event = router.current_event
    raw = event.body or ""
    if event.is_base64_encoded:
        try:
            body = base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise InvalidInput("the request body is not valid base64", field="body") from exc
    else:
        body = raw.encode("utf-8")
    return ImportOut.of(bootstrap.suppression_admin().import_csv(project_id, body))


@router.get("/suppressions/export", tags=TAGS, summary="Every suppressed address as CSV")
def export_suppressions(project_id: ProjectId) -> Response[Any]:
    return Response(
        status_code=200,
        content_type=CSV,
        body=bootstrap.suppression_admin().export_csv(project_id),
        headers={"content-disposition": 'attachment; filename="suppressions.csv"'},
    )
