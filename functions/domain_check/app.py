"""Once a day: re-checks the DNS records of every active project's sending domain, keeps what the
send path's domain gate reads, and tells the notification address when a required record broke."""

from dataclasses import asdict
from typing import Any

from tagmail import bootstrap
from tagmail.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return asdict(bootstrap.domain_readiness_service().check_all())
