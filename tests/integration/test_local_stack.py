"""The local stack against moto, driven by a small test template (tests/data/local)."""

from __future__ import annotations

import http.client
import inspect
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from local.stack import LocalStack

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "local"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(DATA, api_port=0, moto_port=0, stack_name="tagmail-test") as started:
        yield started


def handler_module(stack: LocalStack, logical_id: str) -> ModuleType:
    module = inspect.getmodule(stack.function(logical_id).handler())
    assert module is not None
    return module


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until ``check`` returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def receive_all(stack: LocalStack, logical_id: str, wait: int = 1) -> list[dict[str, Any]]:
    response = stack.client("sqs").receive_message(
        QueueUrl=stack.queue_urls[logical_id], MaxNumberOfMessages=10, WaitTimeSeconds=wait
    )
    return list(response.get("Messages", []))


# -- resources -----------------------------------------------------------------------------------


def test_tables_are_created_from_the_template(stack: LocalStack) -> None:
    dynamodb = stack.client("dynamodb")
    table = dynamodb.describe_table(TableName=stack.physical_names["ItemsTable"])["Table"]
    assert table["TableName"] == "tagmail-test-ItemsTable"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by_email"]
    assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["by_created"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ttl = dynamodb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    provisioned = dynamodb.describe_table(TableName="tagmail-test-provisioned-test")["Table"]
    assert provisioned["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    assert "AuditTable" not in stack.physical_names  # its condition is false


def test_queues_get_their_attributes_and_redrive_policy(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_urls["WorkQueue"], AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "1"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:tagmail-test-WorkDeadLetterQueue",
        "maxReceiveCount": 2,
    }
    fifo = sqs.get_queue_attributes(QueueUrl=stack.queue_urls["OrderedQueue"], AttributeNames=["All"])["Attributes"]
    assert stack.queue_urls["OrderedQueue"].endswith("tagmail-test-OrderedQueue.fifo")
    assert (fifo["FifoQueue"], fifo["ContentBasedDeduplication"]) == ("true", "true")


def test_topic_parameter_and_secret_exist(stack: LocalStack) -> None:
    topics = stack.client("sns").list_topics()["Topics"]
    assert {"TopicArn": "arn:aws:sns:us-east-1:123456789012:tagmail-test-NoticeTopic"} in topics
    parameter = stack.client("ssm").get_parameter(Name=stack.physical_names["SenderName"])["Parameter"]
    assert parameter["Value"] == "tagmail test"
    secret = stack.client("secretsmanager").get_secret_value(SecretId=stack.physical_names["SigningKey"])
    assert len(secret["SecretString"]) == 24


def test_state_machine_waits_for_its_timestamp_then_sends_to_the_queue(stack: LocalStack) -> None:
    sfn = stack.client("stepfunctions")
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:tagmail-test-DelayedSendStateMachine"
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert definition["States"]["Enqueue"]["Parameters"]["QueueUrl"] == stack.queue_urls["SendQueue"]
    started = time.monotonic()
    send_at = datetime.now(UTC) + timedelta(seconds=3)
    execution = sfn.start_execution(
        stateMachineArn=arn,
        name="delayed-1",
        # moto's Wait only takes timestamps ending in Z.
        input=json.dumps({"send_at": send_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "message": {"to": "user-1"}}),
    )
    messages = eventually(lambda: receive_all(stack, "SendQueue"), timeout=15)
    assert json.loads(messages[0]["Body"]) == {"to": "user-1"}
    # moto waits whole seconds (and the timestamp drops its fraction), so up to ~2 s early.
    assert time.monotonic() - started >= 0.9
    status = eventually(
        lambda: sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "SUCCEEDED", timeout=5
    )
    assert status


# -- HTTP API ------------------------------------------------------------------------------------


def test_http_request_becomes_a_payload_2_event(stack: LocalStack) -> None:
    response = requests.get(
        f"{stack.api_url}/items/42?tag=a&tag=b", headers={"Cookie": "s=1; t=2", "X-Dup": "1"}, timeout=5
    )
    assert response.status_code == 200
    answer = response.json()
    event = answer["event"]
    assert (answer["greeting"], answer["stage"]) == ("hello from the layer", "test")  # layer + environment
    assert event["routeKey"] == "GET /items/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"tag": "a,b"}
    assert event["rawQueryString"] == "tag=a&tag=b"
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-dup"] == "1"
    assert event["requestContext"]["http"] == {
        "method": "GET",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": requests.utils.default_user_agent(),
    }
    assert response.headers["apigw-requestid"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize(
    ("headers", "body", "encoded"),
    [
        ({"Content-Type": "application/json"}, b'{"a": 1}', False),
        ({"Content-Type": "application/octet-stream"}, b"\x00\x01", True),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"\x1f\x8b", True),
    ],
)
def test_body_encoding_follows_the_content_type(
    stack: LocalStack, headers: dict[str, str], body: bytes, encoded: bool
) -> None:
    event = requests.post(f"{stack.api_url}/items", data=body, headers=headers, timeout=5).json()["event"]
    assert event["isBase64Encoded"] is encoded


def test_exact_routes_beat_greedy_ones(stack: LocalStack) -> None:
    exact = requests.get(f"{stack.api_url}/files/exact", timeout=5).json()["event"]
    greedy = requests.put(f"{stack.api_url}/files/a/b", timeout=5).json()["event"]
    assert exact["routeKey"] == "GET /files/exact"
    assert (greedy["routeKey"], greedy["pathParameters"]) == ("ANY /files/{proxy+}", {"proxy": "a/b"})


def test_handler_results_are_mapped_like_api_gateway(stack: LocalStack) -> None:
    base = f"{stack.api_url}/behave"
    text = requests.get(f"{base}/text", timeout=5)
    assert (text.status_code, text.text) == (200, "plain text")
    as_dict = requests.get(f"{base}/dict", timeout=5)
    assert (as_dict.status_code, as_dict.json()) == (200, {"hello": "world"})
    cookies = requests.get(f"{base}/cookies", timeout=5)
    assert (cookies.status_code, cookies.text, cookies.headers["x-one"]) == (201, "ok", "1")
    assert cookies.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2"]
    binary = requests.get(f"{base}/binary", timeout=5)
    assert (binary.content, binary.headers["content-type"]) == (b"\x89PNG", "image/png")


def test_context_is_lambda_like(stack: LocalStack) -> None:
    context = requests.get(f"{stack.api_url}/behave/context", timeout=5).json()
    assert context["function_name"] == "tagmail-test-ApiFunction"
    assert context["invoked_function_arn"].endswith(":function:tagmail-test-ApiFunction")
    assert context["memory_limit_in_mb"] == 256
    assert 4000 < context["remaining"] <= 5000


def test_handler_errors_are_500_and_logged(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="local.http_api"):
        response = requests.get(f"{stack.api_url}/behave/boom", timeout=5)
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})
    assert any(record.exc_info and "boom" in str(record.exc_info[1]) for record in caplog.records)
    invalid = requests.get(f"{stack.api_url}/behave/bad", timeout=5)
    assert invalid.status_code == 500


def test_unknown_routes_are_404_and_large_bodies_413(stack: LocalStack) -> None:
    missing = requests.get(f"{stack.api_url}/nowhere", timeout=5)
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
    wrong_method = requests.delete(f"{stack.api_url}/items", timeout=5)
    assert wrong_method.status_code == 404
    too_big = requests.post(f"{stack.api_url}/items", data=b"x" * (10 * 1024 * 1024 + 1), timeout=30)
    assert (too_big.status_code, too_big.json()) == (413, {"message": "Request Entity Too Large"})


def test_web_folder_is_served_without_traversal(stack: LocalStack) -> None:
    script = requests.get(f"{stack.api_url}/web/sub/tag.js", timeout=5)
    assert (script.status_code, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    index = requests.get(f"{stack.api_url}/web/", timeout=5)
    assert "local web root" in index.text
    assert stack.api is not None
    for path in ("/web/../secret.txt", "/web/%2e%2e/secret.txt", "/web/sub/../../secret.txt"):
        connection = http.client.HTTPConnection("127.0.0.1", stack.api.port, timeout=5)
        connection.request("GET", path)  # sent as-is, unlike requests which normalises ../
        assert connection.getresponse().status == 404, path
        connection.close()


# -- DynamoDB stream -----------------------------------------------------------------------------


def put_items(stack: LocalStack, *items: tuple[str, str, str]) -> None:
    """(pk, sk, behaviour) items written in one call, so they share a batch when possible.

    Each has a "kind": the stream's filter uses anything-but, which a missing field never matches.
    """
    stack.client("dynamodb").batch_write_item(
        RequestItems={
            stack.physical_names["ItemsTable"]: [
                {
                    "PutRequest": {
                        "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "kind": {"S": "test"}, "behaviour": {"S": behaviour}}
                    }
                }
                for pk, sk, behaviour in items
            ]
        }
    )


def processed(stack: LocalStack, prefix: str) -> list[str]:
    return [key for key in handler_module(stack, "StreamFunction").PROCESSED if key.startswith(prefix)]


def failures_for(stack: LocalStack, prefix: str) -> list[dict[str, Any]]:
    found = []
    for message in receive_all(stack, "StreamFailureQueue", wait=0):
        record = json.loads(message["Body"])
        found.append(record)
    return [record for record in found if prefix in json.dumps(record)] or found


def test_stream_failed_record_is_redelivered_in_order_and_nothing_is_lost(stack: LocalStack) -> None:
    put_items(stack, ("order", "1", "ok"), ("order", "2", "fail-once"), ("order", "3", "ok"), ("order", "4", "ok"))
    assert stack.wait_idle(timeout=15)
    assert processed(stack, "order/") == ["order/1", "order/2", "order/3", "order/4"]
    attempts = handler_module(stack, "StreamFunction").ATTEMPTS
    assert (attempts["order/1"], attempts["order/2"], attempts["order/3"]) == (1, 2, 1)


def test_stream_filter_criteria_skip_records(stack: LocalStack) -> None:
    table = stack.physical_names["ItemsTable"]
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "filter"}, "sk": {"S": "1"}, "kind": {"S": "ignored"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "filter"}, "sk": {"S": "2"}, "kind": {"S": "kept"}})
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "filter"}, "sk": {"S": "2"}})  # REMOVE: not wanted
    assert stack.wait_idle(timeout=15)
    batches = handler_module(stack, "StreamFunction").BATCHES
    delivered = [key for batch in batches for key in batch if key.startswith("filter/")]
    assert delivered == ["filter/2"]


def test_stream_batch_goes_to_the_on_failure_queue_after_the_last_retry(stack: LocalStack) -> None:
    put_items(stack, ("give-up", "1", "always-fail"))
    attempts = handler_module(stack, "StreamFunction").ATTEMPTS
    assert eventually(lambda: attempts["give-up/1"] >= 1)
    put_items(stack, ("give-up", "2", "ok"))  # read while the first batch is being retried
    assert stack.wait_idle(timeout=15)
    assert handler_module(stack, "StreamFunction").ATTEMPTS["give-up/1"] == 3  # first try + MaximumRetryAttempts 2
    assert processed(stack, "give-up/") == ["give-up/2"]
    [record] = eventually(lambda: receive_all(stack, "StreamFailureQueue"))
    failure = json.loads(record["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert "functionError" not in failure["responseContext"]  # it reported a failure, it did not raise
    info = failure["DDBStreamBatchInfo"]
    assert (info["batchSize"], info["streamArn"]) == (
        1,
        stack.function("StreamFunction").events[0].properties["Stream"],
    )
    assert info["startSequenceNumber"] == info["endSequenceNumber"]


def test_stream_function_errors_bisect_the_batch(stack: LocalStack) -> None:
    put_items(stack, ("bisect", "1", "ok"), ("bisect", "2", "explode"), ("bisect", "3", "ok"))
    assert stack.wait_idle(timeout=20)
    # bisect/1 shared the batch that raised, so it is delivered again (at least once, in order).
    assert list(dict.fromkeys(processed(stack, "bisect/"))) == ["bisect/1", "bisect/3"]
    [record] = eventually(lambda: receive_all(stack, "StreamFailureQueue"))
    failure = json.loads(record["Body"])
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1


def test_stream_exception_retries_the_whole_batch(stack: LocalStack) -> None:
    put_items(stack, ("retry", "1", "explode-once"))
    assert stack.wait_idle(timeout=15)
    assert processed(stack, "retry/") == ["retry/1"]
    assert handler_module(stack, "StreamFunction").ATTEMPTS["retry/1"] == 2


# -- SQS -----------------------------------------------------------------------------------------


def bodies(stack: LocalStack, prefix: str) -> list[str]:
    return [r["body"] for r in handler_module(stack, "QueueFunction").PROCESSED if r["body"].startswith(prefix)]


def test_sqs_record_has_the_lambda_shape(stack: LocalStack) -> None:
    stack.client("sqs").send_message(
        QueueUrl=stack.queue_urls["WorkQueue"],
        MessageBody="shape-1",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )
    assert eventually(lambda: bodies(stack, "shape-"))
    [record] = [r for r in handler_module(stack, "QueueFunction").PROCESSED if r["body"] == "shape-1"]
    assert list(record) == [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert (record["eventSource"], record["eventSourceARN"]) == (
        "aws:sqs",
        "arn:aws:sqs:us-east-1:123456789012:tagmail-test-WorkQueue",
    )


def test_sqs_partial_failures_come_back_and_successes_are_deleted(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    for body in ("partial-ok", "fail-once-partial"):
        sqs.send_message(QueueUrl=stack.queue_urls["WorkQueue"], MessageBody=body)
    assert eventually(lambda: len(bodies(stack, "partial-") + bodies(stack, "fail-once-partial")) == 2, timeout=10)
    attempts = handler_module(stack, "QueueFunction").ATTEMPTS
    assert (attempts["partial-ok"], attempts["fail-once-partial"]) == (1, 2)


def test_sqs_exception_leaves_the_whole_batch(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    sqs.send_message_batch(
        QueueUrl=stack.queue_urls["WorkQueue"],
        Entries=[{"Id": "1", "MessageBody": "explode-once-a"}, {"Id": "2", "MessageBody": "explode-neighbour"}],
    )
    assert eventually(lambda: len(bodies(stack, "explode-")) == 2, timeout=10)
    attempts = handler_module(stack, "QueueFunction").ATTEMPTS
    assert attempts["explode-once-a"] == 2
    assert attempts["explode-neighbour"] >= 1  # redelivered too when it shared the failed batch


def test_sqs_messages_failing_every_time_end_in_the_dead_letter_queue(stack: LocalStack) -> None:
    stack.client("sqs").send_message(QueueUrl=stack.queue_urls["WorkQueue"], MessageBody="fail-always-1")
    dead = eventually(lambda: receive_all(stack, "WorkDeadLetterQueue"), timeout=15)
    assert [message["Body"] for message in dead] == ["fail-always-1"]
    assert handler_module(stack, "QueueFunction").ATTEMPTS["fail-always-1"] == 2  # maxReceiveCount


# -- schedules and lifecycle ---------------------------------------------------------------------


def test_schedules_can_be_fired_on_demand(stack: LocalStack) -> None:
    daily, nightly = stack.run_schedule_now("ScheduledFunction")
    assert daily["handled"]["detail-type"] == "Scheduled Event"
    assert nightly == {"handled": {"job": "nightly"}}
    with pytest.raises(KeyError):
        stack.run_schedule_now("ApiFunction")


def test_functions_can_be_called_directly(stack: LocalStack) -> None:
    assert stack.function("ScheduledFunction")({"direct": True}) == {"handled": {"direct": True}}
    with pytest.raises(KeyError, match="Nope"):
        stack.function("Nope")


def test_cors_configuration_is_applied_like_api_gateway(stack: LocalStack) -> None:
    shop = {"Origin": "https://shop.example.com"}
    preflight = requests.options(
        f"{stack.api_url}/items/1", headers={**shop, "Access-Control-Request-Method": "GET"}, timeout=5
    )
    assert preflight.status_code == 204  # answered by the API, though no OPTIONS route exists
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert preflight.headers["access-control-allow-methods"] == "GET,POST"
    assert preflight.headers["access-control-max-age"] == "600"
    response = requests.get(f"{stack.api_url}/items/1", headers=shop, timeout=5)
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    stranger = requests.get(f"{stack.api_url}/items/1", headers={"Origin": "https://evil.example"}, timeout=5)
    assert "access-control-allow-origin" not in stranger.headers
