"""SQS test handler; a message body's prefix says how it is handled."""

from collections import Counter
from typing import Any

PROCESSED: list[dict[str, Any]] = []
ATTEMPTS: Counter[str] = Counter()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        body = record["body"]
        ATTEMPTS[body] += 1
        if body.startswith("explode-once") and ATTEMPTS[body] == 1:
            raise RuntimeError("exploded")
        if body.startswith("fail-always") or (body.startswith("fail-once") and ATTEMPTS[body] == 1):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        PROCESSED.append(record)
    return {"batchItemFailures": failures}
