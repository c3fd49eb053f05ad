"""Consumes the send queue: each record is one send request through the one send path."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from tagmail import bootstrap
from tagmail.domain.sending import SendRequest
from tagmail.errors import InvalidInput
from tagmail.observability import count, lambda_entry, logger
from tagmail.services.send import PermanentSendFailure, TransientSendFailure


def _handle_record(record: SQSRecord) -> None:
    try:
        bootstrap.send_service().send(SendRequest.from_json(record.body))
    except (InvalidInput, PermanentSendFailure) as failure:
        # Retrying cannot help: the request goes to the dead-letter queue with its reason, and
        # the record counts as handled. Anything else raised here is retried by the queue.
        bootstrap.dead_letters().bury(record.body, failure.message)
        logger().warning("send request dead-lettered", reason=failure.message, message_id=record.message_id)
        count("SendRequestsDeadLettered")
    except TransientSendFailure as deferral:
        # Retried by the queue; when we know when a retry can succeed (a sending limit's window,
        # Mailgun's "try again after"), the request comes back then instead of after the default.
        if deferral.retry_after is not None:
            bootstrap.send_queue().defer(record.receipt_handle, deferral.retry_after.total_seconds())
        raise


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=_handle_record, processor=processor, context=context)
