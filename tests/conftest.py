"""Shared fixtures: the local stack (session-wide) and a fake Lambda context."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local.runner import LambdaContext  # noqa: E402 - needs ROOT on sys.path
from local.stack import LocalStack  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The stack points AWS_ENDPOINT_URL at its moto server for the rest of the session, which
    # would reach tests that expect moto's in-process mock; run every other test before it starts.
    items.sort(key=lambda item: "local_stack" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    """The whole stack on free 127.0.0.1 ports, with a demo project as ``local_stack.project``.

    Schedules do not fire on their own here; call ``local_stack.run_schedule_now(...)``.
    """
    stack = LocalStack(ROOT, api_port=0, moto_port=0, sandbox_port=0, event_sources={"HttpApi", "DynamoDB", "SQS"})
    stack.start()
    try:
        assert stack.sandbox is not None
        stack.sandbox.webhook_retry_scale = 0.001  # Mailgun's retry schedule, in milliseconds
        stack.create_demo_project()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def lambda_context() -> LambdaContext:
    """A Lambda-like context for calling handlers directly."""
    return LambdaContext(
        function_name="tagmail-test-function",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tagmail-test-function",
        memory_limit_in_mb=512,
        timeout_seconds=10,
    )
