"""Admin API (/admin/v1): settings, templates, previews, test sends, suppressions, reports."""

from typing import Any

from tagmail.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Built on the first call and kept for the warm container: importing this module builds nothing.
    from tagmail.api import admin_app

    return admin_app().resolve(event, context)
