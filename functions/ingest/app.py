"""Tracking API (Segment-compatible): POST /v1/{identify,track,page,screen,group,alias,batch} (and
analytics.js's one-letter paths), and CORS preflight."""

from typing import Any

from tagmail import bootstrap
from tagmail.domain.tracking import Endpoint
from tagmail.errors import TagmailError
from tagmail.http import HttpRequest, error_response, json_response
from tagmail.observability import lambda_entry
from tagmail.services.ingest import IngestCommand

# Any site may send (the write key is public by nature); no cookies are used, so no credentials.
CORS = {"access-control-allow-origin": "*", "vary": "origin"}
PREFLIGHT = {
    **CORS,
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": "authorization, content-type, content-encoding",
    "access-control-max-age": "86400",
}


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = HttpRequest.from_event(event)
        if request.method == "OPTIONS":
            return {"statusCode": 204, "headers": PREFLIGHT, "body": ""}
        endpoint = Endpoint.from_path(request.path_parameters.get("endpoint", ""))
        bootstrap.ingest_service().ingest(
            IngestCommand(endpoint=endpoint, body=request.body, write_key=request.basic_auth_user)
        )
    except TagmailError as error:
        return error_response(error, CORS)
    return json_response(200, {"success": True}, CORS)
