"""The admin API (/admin/v1): a Powertools resolver with one router per resource, validated
request and response models, bearer-key authentication and one error mapping.

Built on first use (`admin_app()`), so importing a handler creates nothing."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver


@functools.cache
def admin_app() -> APIGatewayHttpResolver:
    from tagmail.api.app import build_app

    return build_app()
