"""The OpenAPI document as the admin API really answers: Powertools generates it from the routes
and models; this adds what it cannot know (errors are 400/401 with one error body, not 422; the
CSV import and export speak text/csv)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from tagmail.api.auth import PREFIX
from tagmail.api.models import ErrorOut

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
_ERRORS = {
    "400": {"description": "Invalid input; `field` names it (and `line`, `variable`, `problems` where known)"},
    "401": {"description": "Missing, unknown or non-admin key"},
    "404": {"description": "Not found in this project"},
    "409": {"description": "Conflict with the current state; read again and retry"},
    "502": {"description": "Mailgun failed while the domain was set up; nothing was changed"},
    "503": {"description": "A store or DNS did not answer; retry"},
}
_CSV_IMPORT = f"{PREFIX}/suppressions/import"
_CSV_EXPORT = f"{PREFIX}/suppressions/export"


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    document: dict[str, Any] = app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schemas["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, error in _ERRORS.items():
                responses.setdefault(status, {**error, "content": _ERROR})
            if path == _CSV_IMPORT:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"text/csv": {"schema": {"type": "string", "maxLength": 5 * 1024 * 1024}}},
                }
            if path == _CSV_EXPORT:
                responses["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
    return document
