"""Mailgun's webhooks: POST /webhooks/mailgun (JSON, signed with the project's signing key)."""

from typing import Any

from tagmail import bootstrap
from tagmail.errors import TagmailError
from tagmail.http import HttpRequest, error_response, json_response
from tagmail.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # 200 when recorded (or already recorded), 406 for what Mailgun must not retry (forged, stale,
    # replayed, unknown domain), 4xx for a malformed body, 5xx when a store failed (Mailgun retries).
    try:
        request = HttpRequest.from_event(event)
        bootstrap.webhook_service().record_mailgun_event(request.body)
    except TagmailError as error:
        return error_response(error)
    return json_response(200, {"message": "ok"})
