"""Stream records and on-failure records in the shapes Lambda uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from local.streams import _first_failure, failure_record, lambda_record

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "events" / "trigger" / "insert.json").read_text())
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-04T09:00:00.000"


def boto_record(sequence: str) -> dict[str, object]:
    """A record as boto3 parses moto's GetRecords answer."""
    return {
        "eventID": "e1",
        "eventName": "INSERT",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 12, 4, 9, 30, 2, tzinfo=UTC),
            "Keys": {"pk": {"S": "a"}, "sk": {"S": "b"}},
            "NewImage": {"pk": {"S": "a"}, "sk": {"S": "b"}, "blob": {"B": b"\x00\x01"}},
            "SequenceNumber": sequence,
            "SizeBytes": 10,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def test_a_record_has_the_shape_lambda_delivers() -> None:
    record = lambda_record(boto_record("100"), STREAM)
    assert list(record) == list(SAMPLE["Records"][0])
    assert record["eventVersion"] == "1.1"
    assert record["eventSourceARN"] == STREAM
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1796376602
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}
    json.dumps(record)  # nothing left that JSON cannot carry


def test_batch_item_failures_name_the_checkpoint() -> None:
    records = [lambda_record(boto_record(str(n)), STREAM) for n in (100, 101, 102)]
    assert _first_failure({"batchItemFailures": []}, records) is None
    assert _first_failure(None, records) is None
    assert _first_failure({"batchItemFailures": [{"itemIdentifier": "102"}, {"itemIdentifier": "101"}]}, records) == 1
    assert _first_failure({"batchItemFailures": [{"itemIdentifier": "999"}]}, records) == 0  # invalid: whole batch
    assert _first_failure({"batchItemFailures": [{"itemIdentifier": None}]}, records) == 0


def test_on_failure_record_matches_what_lambda_sends() -> None:
    records = [lambda_record(boto_record(str(n)), STREAM) for n in (100, 101)]
    record = failure_record(
        records=records,
        shard_id="shardId-1",
        stream_arn=STREAM,
        function_arn="arn:fn",
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        function_error=True,
    )
    assert set(record) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["timestamp"].endswith("Z")
    assert record["DDBStreamBatchInfo"] == {
        "shardId": "shardId-1",
        "startSequenceNumber": "100",
        "endSequenceNumber": "101",
        "approximateArrivalOfFirstRecord": "2026-12-04T09:30:02Z",
        "approximateArrivalOfLastRecord": "2026-12-04T09:30:02Z",
        "batchSize": 2,
        "streamArn": STREAM,
    }
