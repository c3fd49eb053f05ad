"""Every five minutes: queues the 90 % / 100 % quota notices of every project that reached a
threshold and has not had its notice (the send path queues them at once; this is the safety net)."""

from typing import Any

from tagmail import bootstrap
from tagmail.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return {"notices_queued": bootstrap.quota_notices().check_all()}
