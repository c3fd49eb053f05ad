"""Admin keys: every route but the OpenAPI document needs `Authorization: Bearer <admin key>`,
and the project a route acts on is the key's project, never one named in the request."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Request, Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from tagmail import bootstrap
from tagmail.domain.projects import KeyKind
from tagmail.errors import Unauthorized
from tagmail.observability import logger

PREFIX = "/admin/v1"
PUBLIC_ROUTES = frozenset({f"{PREFIX}/openapi.json"})
_PROJECT = "project_id"


def authenticate(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    request = app.request
    if request.route in PUBLIC_ROUTES:
        return next_middleware(app)
    headers = {name.lower(): value for name, value in (request.headers or {}).items()}
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("an admin key is required: send Authorization: Bearer <admin key>")
    # A write key (public by nature, it is in the site's pages) is an unknown admin key here.
    project_id = bootstrap.key_resolver().project_for(key.strip(), KeyKind.ADMIN)
    app.context[_PROJECT] = project_id
    logger().append_keys(project_id=project_id)
    return next_middleware(app)


def _current_project(request: Request) -> str:
    return str(request.context[_PROJECT])


# The authenticated project, as a route parameter: `project_id: ProjectId`.
ProjectId = Annotated[str, Depends(_current_project)]
