"""Consumes the events table's stream: each new event is evaluated against trigger campaigns."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from tagmail import bootstrap
from tagmail.observability import lambda_entry


def _handle_record(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else None
    if image:
        bootstrap.event_stream_consumer().consume_image(image)


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    # Failed records are reported (batchItemFailures) so Lambda retries from the first of them.
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=_handle_record, processor=processor, context=context)
