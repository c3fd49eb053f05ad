"""Errors as admin API responses. Statuses come from tagmail.http's one mapping; the admin API
adds 502 for Mailgun failing during a domain setup, and the details a caller needs to fix a
template (part, line, variable) or a CSV file (every bad line)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from tagmail.errors import TagmailError
from tagmail.http import error_response
from tagmail.observability import logger
from tagmail.services.settings import MailgunUnreachable
from tagmail.services.suppressions import CsvImportError

JSON = "application/json; charset=utf-8"
_AUTHENTICATE = {"www-authenticate": 'Bearer realm="tagmail-admin"'}


def tagmail_error(error: TagmailError) -> Response[Any]:
    mapped = error_response(error)
    status = 502 if isinstance(error, MailgunUnreachable) else int(mapped["statusCode"])
    body = json.loads(mapped["body"])
    for name in ("line", "variable"):
        value = getattr(error, name, None)
        if value is not None:
            body[name] = value
    if isinstance(error, CsvImportError):
        body["problems"] = [{"line": problem.line, "message": problem.message} for problem in error.problems]
        body["problem_count"] = error.total
    headers = {"cache-control": "no-store"}
    if status == 401:
        headers.update(_AUTHENTICATE)
    if status in (502, 503):
        headers["retry-after"] = "5"
    if status >= 500:
        logger().warning("admin request failed", code=error.code, status=status)
    return Response(status_code=status, content_type=JSON, body=body, headers=headers)


def validation_error(error: RequestValidationError) -> Response[Any]:
    """Pydantic's findings as a 400 naming each field; the input values are never echoed (they
    may be secrets)."""
    problems = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
        problems.append({"field": ".".join(location) or "body", "message": str(item.get("msg", "is invalid"))})
    first = problems[0] if problems else {"field": "body", "message": "is invalid"}
    body = {
        "success": False,
        "code": "invalid_input",
        "message": f"{first['field']}: {first['message']}",
        "field": first["field"],
        "problems": problems,
    }
    return Response(status_code=400, content_type=JSON, body=body, headers={"cache-control": "no-store"})


def not_found(_: NotFoundError) -> Response[Any]:
    body = {"success": False, "code": "not_found", "message": "no such admin API route; see /admin/v1/openapi.json"}
    return Response(status_code=404, content_type=JSON, body=body)


def unexpected(error: Exception) -> Response[Any]:
    logger().exception("admin request crashed", error=type(error).__name__)
    body = {"success": False, "code": "internal_error", "message": "an internal error occurred"}
    return Response(status_code=500, content_type=JSON, body=body)
