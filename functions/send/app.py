"""Consumes the send queue: each record is one send request through the one send path."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from tagmail import bootstrap
from tagmail.domain.sending import SendRequest
from tagmail.errors import InvalidInput
from tagmail.observability import count, lambda_entry, logger
from tagmail.services.send import PermanentSendFailure


def _handle_record(record: SQSRecord) -> None:
    try:
        bootstrap.send_service().send(SendRequest.from_json(record.body))
    except (InvalidInput, PermanentSendFailure) as failure:
        # Retrying cannot help: the request goes to the dead-letter queue with its reason, and
        # the record counts as handled. Anything else raised here is retried by the queue.
        bootstrap.dead_letters().bury(record.body, failure.message)
        logger().warning("send request dead-lettered", reason=failure.message, message_id=record.message_id)
        count("SendRequestsDeadLettered")


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=_handle_record, processor=processor, context=context)
