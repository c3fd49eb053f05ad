"""DynamoDB stream event source: polls a stream in moto and invokes a function as Lambda does.

Per shard, records are kept in order in a local buffer and only leave it when their batch
succeeded, was filtered out, or was sent to the on-failure destination after the last retry.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.filtering import EventFilter
from local.pollers import Backoff, Poller
from local.runner import EventSource, LocalFunction
from local.template import TemplateError

logger = logging.getLogger(__name__)

_READ_LIMIT = 1000  # records per GetRecords call


@dataclass
class _Attempt:
    """A batch being (re)tried; Lambda retries the same records until they pass or give up."""

    records: list[dict[str, Any]]
    retries: int = 0
    not_before: float = 0.0
    backoff: Backoff = field(default_factory=Backoff)


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    first_buffered: float = 0.0
    attempt: _Attempt | None = None


@dataclass
class _Outcome:
    """Result of one invocation: records before ``failed_from`` succeeded."""

    failed_from: int | None
    function_error: bool = False


class StreamPoller(Poller):
    def __init__(self, function: LocalFunction, source: EventSource, clients: Any, region: str) -> None:
        super().__init__(f"{function.logical_id}.{source.name}")
        props = source.properties
        for unsupported in ("TumblingWindowInSeconds", "StartingPositionTimestamp"):
            if props.get(unsupported) is not None:
                raise TemplateError(f"{self.name}: {unsupported} is not supported locally")
        self.function = function
        self.streams = clients("dynamodbstreams")
        self.clients = clients
        self.region = region
        self.stream_arn: str = props["Stream"]
        self.starting_position = str(props.get("StartingPosition", "LATEST"))
        if self.starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise TemplateError(f"{self.name}: StartingPosition {self.starting_position} not supported")
        self.batch_size = int(props.get("BatchSize", 100))
        self.window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.max_retries = int(props.get("MaximumRetryAttempts", -1))
        self.max_age = int(props.get("MaximumRecordAgeInSeconds", -1))
        self.bisect = bool(props.get("BisectBatchOnFunctionError", False))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.filter = EventFilter.from_criteria(props.get("FilterCriteria"))
        on_failure = (props.get("DestinationConfig") or {}).get("OnFailure") or {}
        self.destination: str | None = on_failure.get("Destination")
        self._shards: dict[str, _Shard] = {}
        self._last_refresh = 0.0

    # -- reading -------------------------------------------------------------------------------

    def _refresh_shards(self) -> None:
        first = not self._last_refresh
        if not first and time.monotonic() - self._last_refresh < 5:
            return
        self._last_refresh = time.monotonic()
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            if shard["ShardId"] in self._shards:
                continue
            # Shards that appear later are read from their start, as Lambda does.
            position = self.starting_position if first else "TRIM_HORIZON"
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
            )["ShardIterator"]
            self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], iterator)

    def _read(self, shard: _Shard) -> None:
        if shard.iterator is None or len(shard.buffer) >= self.batch_size:
            return
        response = self.streams.get_records(ShardIterator=shard.iterator, Limit=_READ_LIMIT)
        shard.iterator = response.get("NextShardIterator")
        for raw in response.get("Records", []):
            record = lambda_record(raw, self.stream_arn)
            if not self.filter.matches(record):
                logger.debug(
                    "record filtered out",
                    extra={"poller": self.name, "sequence_number": record["dynamodb"]["SequenceNumber"]},
                )
                continue
            if not shard.buffer:
                shard.first_buffered = time.monotonic()
            shard.buffer.append(record)

    # -- delivering ----------------------------------------------------------------------------

    def poll_once(self) -> bool:
        self._refresh_shards()
        pending = False
        delivered = False
        for shard in list(self._shards.values()):
            self._read(shard)
            if not shard.buffer:
                if shard.iterator is None:
                    del self._shards[shard.shard_id]  # closed and drained
                continue
            pending = True
            delivered |= self._deliver(shard)
        if pending and not delivered:
            self.sleep(0.05)  # waiting for a batching window or a retry backoff
        return pending

    def _ready_attempt(self, shard: _Shard) -> _Attempt | None:
        """The batch to invoke now, or None while a batching window or backoff runs."""
        now = time.monotonic()
        if shard.attempt is None:
            full = len(shard.buffer) >= self.batch_size
            if not full and now - shard.first_buffered < self.window:
                return None
            shard.attempt = _Attempt(shard.buffer[: self.batch_size])
        return shard.attempt if now >= shard.attempt.not_before else None

    def _deliver(self, shard: _Shard) -> bool:
        attempt = self._ready_attempt(shard)
        if attempt is None:
            return False
        if self._too_old(attempt.records):
            self._give_up(shard, attempt, "RecordAgeExceeded", function_error=False)
            return True
        outcome = self._invoke(attempt.records)
        succeeded = len(attempt.records) if outcome.failed_from is None else outcome.failed_from
        self._pass(shard, succeeded)
        if outcome.failed_from is None:
            shard.attempt = None
        else:
            self._after_failure(shard, attempt, attempt.records[succeeded:], outcome.function_error)
        return True

    def _after_failure(
        self, shard: _Shard, attempt: _Attempt, failed: list[dict[str, Any]], function_error: bool
    ) -> None:
        if function_error and self.bisect and len(failed) > 1:
            # Retry the first half alone; the rest is read from the buffer again afterwards.
            shard.attempt = _Attempt(failed[: len(failed) // 2])
            logger.info("bisecting failed batch", extra={"poller": self.name, "size": len(failed)})
            return
        attempt.records = failed
        if 0 <= self.max_retries <= attempt.retries:
            self._give_up(shard, attempt, "RetryAttemptsExhausted", function_error)
            return
        attempt.retries += 1
        attempt.not_before = time.monotonic() + attempt.backoff.next()
        logger.info(
            "retrying stream batch",
            extra={
                "poller": self.name,
                "retry": attempt.retries,
                "size": len(failed),
                "first_sequence_number": failed[0]["dynamodb"]["SequenceNumber"],
            },
        )

    def _invoke(self, records: list[dict[str, Any]]) -> _Outcome:
        try:
            response = self.function({"Records": records})
        except Exception:
            logger.exception("stream handler failed", extra={"poller": self.name, "size": len(records)})
            return _Outcome(failed_from=0, function_error=True)
        if not self.report_failures:
            return _Outcome(failed_from=None)
        return _Outcome(failed_from=_first_failure(response, records))

    def _pass(self, shard: _Shard, count: int) -> None:
        del shard.buffer[:count]
        if shard.buffer:
            shard.first_buffered = time.monotonic()

    def _too_old(self, records: list[dict[str, Any]]) -> bool:
        if self.max_age < 0:
            return False
        created = records[0]["dynamodb"].get("ApproximateCreationDateTime", time.time())
        return time.time() - float(created) > self.max_age

    def _give_up(self, shard: _Shard, attempt: _Attempt, condition: str, function_error: bool) -> None:
        """Send the batch to the on-failure destination; only then let its records go."""
        if self.destination is None:
            # Lambda discards the batch in this case; say so loudly.
            logger.error(
                "stream batch discarded after retries (no on-failure destination)",
                extra={"poller": self.name, "size": len(attempt.records)},
            )
        else:
            record = failure_record(
                records=attempt.records,
                shard_id=shard.shard_id,
                stream_arn=self.stream_arn,
                function_arn=self.function.arn,
                condition=condition,
                invoke_count=attempt.retries + 1,
                function_error=function_error,
            )
            try:
                self._send_to_destination(record)
            except Exception:
                logger.exception("on-failure destination unreachable, will retry", extra={"poller": self.name})
                attempt.not_before = time.monotonic() + attempt.backoff.next()
                return
            logger.warning(
                "stream batch sent to on-failure destination",
                extra={"poller": self.name, "size": len(attempt.records), "condition": condition},
            )
        self._pass(shard, len(attempt.records))
        shard.attempt = None

    def _send_to_destination(self, record: dict[str, Any]) -> None:
        assert self.destination is not None
        service, name = self.destination.split(":")[2], self.destination.split(":")[-1]
        if service == "sqs":
            sqs = self.clients("sqs")
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
        elif service == "sns":
            self.clients("sns").publish(TopicArn=self.destination, Message=json.dumps(record))
        else:
            raise TemplateError(f"{self.name}: unsupported on-failure destination {self.destination}")


def _first_failure(response: Any, records: list[dict[str, Any]]) -> int | None:
    """Index of the checkpoint record named by batchItemFailures; 0 when the response is invalid."""
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return None
    positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(records)}
    indexes = []
    for failure in response["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in positions:
            # Lambda treats an unknown or empty identifier as a failure of the whole batch.
            logger.warning("invalid batchItemFailures entry", extra={"entry": repr(failure)})
            return 0
        indexes.append(positions[identifier])
    return min(indexes)


def _plain(value: Any) -> Any:
    """boto3's parsed record back to the JSON Lambda delivers (epoch seconds, base64 binary)."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    return value


def lambda_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record in the shape Lambda puts in ``event["Records"]``."""
    plain = _plain(raw)
    return {
        "eventID": plain["eventID"],
        "eventName": plain["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": plain.get("awsRegion", "us-east-1"),
        "dynamodb": plain["dynamodb"],
        "eventSourceARN": stream_arn,
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_record(
    *,
    records: list[dict[str, Any]],
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    function_error: bool,
) -> dict[str, Any]:
    """The invocation record Lambda sends to a stream's on-failure destination."""
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response_context["functionError"] = "Unhandled"
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime", time.time())),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime", time.time())),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
