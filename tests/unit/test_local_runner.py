"""The in-process Lambda runner: functions read from the template, called as Lambda calls them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from local.runner import LambdaContext, LocalFunction, layer_paths, load_functions, shared_environment
from local.template import Template, TemplateError

DATA = Path(__file__).resolve().parents[1] / "data" / "local"


@pytest.fixture
def functions() -> dict[str, LocalFunction]:
    template = Template.load(DATA / "template.yaml", endpoint_url="http://127.0.0.1:4566")
    template.attributes[("ItemsTable", "StreamArn")] = "arn:stream"  # known once moto made the table
    return load_functions(template)


def test_functions_come_from_the_template_with_globals(functions: dict[str, LocalFunction]) -> None:
    queue = functions["QueueFunction"]
    assert queue.name == "tagmail-local-QueueFunction"
    assert queue.arn == "arn:aws:lambda:us-east-1:123456789012:function:tagmail-local-QueueFunction"
    assert (queue.code_dir, queue.handler_name) == (DATA / "functions" / "queue", "app.handler")
    assert (queue.timeout, queue.memory_mb) == (3, 256)
    assert queue.environment == {
        "ITEMS_TABLE": "tagmail-local-ItemsTable",
        "WORK_QUEUE_URL": "http://127.0.0.1:4566/123456789012/tagmail-local-WorkQueue",
        "STAGE": "test",
        "RETENTION_DAYS": "7",
        "SHARED": "same-everywhere",
    }
    assert [(source.name, source.type) for source in queue.events] == [("Work", "SQS")]
    assert queue.events[0].properties["Queue"] == "arn:aws:sqs:us-east-1:123456789012:tagmail-local-WorkQueue"


def test_handlers_load_by_path_under_unique_names(
    functions: dict[str, LocalFunction], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DATA / "layer" / "python"))
    stream, queue = functions["StreamFunction"].handler(), functions["QueueFunction"].handler()
    assert stream.__module__ != queue.__module__  # both are app.handler
    assert functions["ScheduledFunction"]({"x": 1}) == {"handled": {"x": 1}}


def test_a_missing_handler_module_is_reported_on_first_call(tmp_path: Path) -> None:
    function = LocalFunction(
        logical_id="Missing",
        name="m",
        arn="arn",
        code_dir=tmp_path,
        handler="app.handler",
        timeout=1,
        memory_mb=128,
        environment={},
        events=[],
    )
    with pytest.raises(FileNotFoundError, match="Missing"):
        function({})


def test_context_looks_like_lambdas() -> None:
    context = LambdaContext("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn", 256, timeout_seconds=2)
    assert context.function_version == "$LATEST"
    assert context.log_group_name == "/aws/lambda/fn"
    assert context.log_stream_name.endswith("]" + context.aws_request_id.replace("-", ""))
    assert 1900 < context.get_remaining_time_in_millis() <= 2000
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() <= 1950
    assert LambdaContext("fn", "arn", 1, 1).aws_request_id != context.aws_request_id


def test_each_call_gets_a_fresh_context(functions: dict[str, LocalFunction]) -> None:
    first, second = functions["ApiFunction"].new_context(), functions["ApiFunction"].new_context()
    assert first.aws_request_id != second.aws_request_id
    assert first.memory_limit_in_mb == 256


def test_layers_are_found_from_the_template() -> None:
    assert layer_paths(Template.load(DATA / "template.yaml")) == [DATA / "layer" / "python"]


def test_shared_environment_refuses_conflicting_values(functions: dict[str, LocalFunction]) -> None:
    assert shared_environment(functions)["STAGE"] == "test"
    functions["QueueFunction"].environment["STAGE"] = "other"
    with pytest.raises(TemplateError, match="STAGE"):
        shared_environment(functions)
