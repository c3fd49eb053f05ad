"""SQS: the send queue (every e-mail is a message there) and its dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tagmail.domain.sending import SendRequest
from tagmail.errors import DependencyUnavailable

MAX_DELAY = 12 * 3600  # SQS's longest visibility timeout


class SqsSendQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def enqueue(self, request: SendRequest, delay_seconds: int = 0) -> None:
        try:
            self._sqs.send_message(QueueUrl=self._url, MessageBody=request.to_json(), DelaySeconds=delay_seconds)
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable("SQS SendMessage failed") from exc

    def defer(self, receipt_handle: str, seconds: float) -> None:
        """Make a received request visible again only after `seconds` (SQS allows up to 12 hours)."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=int(min(max(seconds, 1), MAX_DELAY))
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable("SQS ChangeMessageVisibility failed") from exc


class SqsDeadLetters:
    """Where a send request that can never succeed goes, with the reason beside it."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def bury(self, body: str, reason: str) -> None:
        try:
            self._sqs.send_message(
                QueueUrl=self._url,
                MessageBody=json.dumps({"reason": reason, "request": body}),
                MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256]}},
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable("SQS SendMessage to the dead-letter queue failed") from exc
