"""SQS event source: long-polls a queue in moto and invokes a function as Lambda does.

Only records that succeeded are deleted; failed ones become visible again after the queue's
visibility timeout, and moto moves them to the dead-letter queue per the RedrivePolicy.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from local.filtering import EventFilter
from local.pollers import Poller
from local.runner import EventSource, LocalFunction

logger = logging.getLogger(__name__)

_RECEIVE_MAX = 10  # SQS's per-call limit


class QueuePoller(Poller):
    idle_interval = 0.0  # the empty long poll already waited

    def __init__(self, function: LocalFunction, source: EventSource, clients: Any, region: str) -> None:
        super().__init__(f"{function.logical_id}.{source.name}")
        props = source.properties
        self.function = function
        self.sqs = clients("sqs")
        self.region = region
        self.queue_arn: str = props["Queue"]
        self.queue_url: str = self.sqs.get_queue_url(QueueName=self.queue_arn.split(":")[-1])["QueueUrl"]
        self.batch_size = int(props.get("BatchSize", 10))
        self.window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.filter = EventFilter.from_criteria(props.get("FilterCriteria"))

    def _receive(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, gathered for at most the batching window after the first."""
        messages: list[dict[str, Any]] = []
        deadline = 0.0
        while len(messages) < self.batch_size and not self.stopping:
            remaining = deadline - time.monotonic()
            if messages and remaining <= 0:
                break
            wait = 1 if not messages or remaining >= 1 else 0
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_RECEIVE_MAX, self.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if received and not messages:
                deadline = time.monotonic() + self.window
            messages.extend(received)
            if not messages:
                break  # the long poll found nothing
            if not received and wait == 0:
                self.sleep(min(0.1, remaining))
        return messages

    def poll_once(self) -> bool:
        messages = self._receive()
        if not messages:
            return False
        records = [self.lambda_record(message) for message in messages]
        delivered = [record for record in records if self.filter.matches(_filter_view(record))]
        # Lambda deletes messages its filter drops.
        failed_ids = self._invoke(delivered) if delivered else set()
        done = [record for record in records if record["messageId"] not in failed_ids]
        self._delete(done)
        if failed_ids:
            logger.info(
                "sqs records failed, left for retry",
                extra={"poller": self.name, "failed": len(failed_ids), "size": len(delivered)},
            )
        return True

    def _invoke(self, records: list[dict[str, Any]]) -> set[str]:
        """Ids of the records that failed."""
        every = {record["messageId"] for record in records}
        try:
            response = self.function({"Records": records})
        except Exception:
            logger.exception("sqs handler failed", extra={"poller": self.name, "size": len(records)})
            return every
        if not self.report_failures or not isinstance(response, dict):
            return set()
        failed: set[str] = set()
        for failure in response.get("batchItemFailures") or []:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, str) or identifier not in every:
                # Lambda fails the whole batch on an invalid identifier.
                logger.warning("invalid batchItemFailures entry", extra={"entry": repr(failure)})
                return every
            failed.add(identifier)
        return failed

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), _RECEIVE_MAX):
            chunk = records[start : start + _RECEIVE_MAX]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]} for index, record in enumerate(chunk)
                ],
            )

    def lambda_record(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message in the shape Lambda puts in ``event["Records"]``."""
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record.update(eventSource="aws:sqs", eventSourceARN=self.queue_arn, awsRegion=self.region)
        return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def _filter_view(record: dict[str, Any]) -> dict[str, Any]:
    """Filters see a JSON body parsed, as Lambda's event filtering does."""
    try:
        body = json.loads(record["body"])
    except (TypeError, ValueError):
        return record
    return {**record, "body": body} if isinstance(body, dict) else record
