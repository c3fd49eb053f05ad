"""The unsubscribe link in every marketing mail: GET /u/{token} (page) and POST /u/{token} (RFC 8058)."""

from typing import Any

from tagmail import bootstrap
from tagmail.errors import TagmailError
from tagmail.http import HttpRequest, status_of
from tagmail.observability import lambda_entry
from tagmail.pages.unsubscribe import choose_locale, page_response, render_error, render_result, requested_action
from tagmail.services.unsubscribe import UnsubscribeCommand


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    languages = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get("accept-language")
    try:
        request = HttpRequest.from_event(event)
        action = requested_action(request.method, request.headers.get("content-type", ""), request.body)
        token = request.path_parameters.get("token", "")
        result = bootstrap.unsubscribe_service().handle(UnsubscribeCommand(token=token, action=action))
    except TagmailError as error:
        status = status_of(error)
        return page_response(status, render_error(status, choose_locale(None, languages)))
    locale = choose_locale(result.profile_locale, languages, result.default_locale)
    return page_response(200, render_result(result, locale))
