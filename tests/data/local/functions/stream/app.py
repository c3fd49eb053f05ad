"""Stream test handler; each item's "behaviour" attribute says how its record is handled.

On a failure it reports that record and stops, as a handler that keeps per-key order must.
"""

from collections import Counter
from typing import Any

PROCESSED: list[str] = []  # "pk/sk" of every record handled successfully, in delivery order
BATCHES: list[list[str]] = []
ATTEMPTS: Counter[str] = Counter()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    keys = [_key(record) for record in event["Records"]]
    BATCHES.append(keys)
    for record, key in zip(event["Records"], keys, strict=True):
        ATTEMPTS[key] += 1
        behaviour = record["dynamodb"].get("NewImage", {}).get("behaviour", {}).get("S", "")
        if behaviour == "explode" or (behaviour == "explode-once" and ATTEMPTS[key] == 1):
            raise RuntimeError(f"cannot handle {key}")
        if behaviour == "always-fail" or (behaviour == "fail-once" and ATTEMPTS[key] == 1):
            return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
        PROCESSED.append(key)
    return {"batchItemFailures": []}


def _key(record: dict[str, Any]) -> str:
    keys = record["dynamodb"]["Keys"]
    return f"{keys['pk']['S']}/{keys['sk']['S']}"
