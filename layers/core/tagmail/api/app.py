"""The admin API's resolver: routers, authentication, error mapping and the OpenAPI document."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

from tagmail.api import errors
from tagmail.api.auth import PREFIX, authenticate
from tagmail.api.openapi import openapi_document
from tagmail.api.routes import campaigns, reports, settings, suppressions, templates, usage
from tagmail.errors import TagmailError

TITLE = "tagmail admin API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Settings, templates, previews, test sends, suppressions and reports of one project. Every call "
    "but this document needs `Authorization: Bearer <admin key>`; the key names the project."
)


def build_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    for module in (campaigns, settings, templates, suppressions, reports, usage):
        app.include_router(module.router, prefix=PREFIX)
    app.use(middlewares=[authenticate])
    app.exception_handler(TagmailError)(errors.tagmail_error)
    app.exception_handler(RequestValidationError)(errors.validation_error)
    app.exception_handler(NotFoundError)(errors.not_found)
    app.exception_handler(Exception)(errors.unexpected)
    app.configure_openapi(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        servers=[Server(url="/")],
        security_schemes={"adminKey": HTTPBearer(description="the project's admin key")},
        security=[{"adminKey": []}],
    )

    document = functools.cache(lambda: openapi_document(app))

    # Public: it describes the API, holds no project data, and is in the open-source repository anyway.
    @app.get(f"{PREFIX}/openapi.json", include_in_schema=False)
    def get_openapi_document() -> Response[Any]:
        return Response(
            status_code=200,
            content_type="application/json; charset=utf-8",
            body=document(),
            headers={"cache-control": "max-age=300"},
        )

    return app
