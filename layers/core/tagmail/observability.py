"""One logger and one metrics sink for every function, created on first use (not at import)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

Handler = TypeVar("Handler", bound=Callable[..., Any])


@functools.cache
def logger() -> Logger:
    return Logger(service="tagmail")


@functools.cache
def metrics() -> Metrics:
    return Metrics(namespace="tagmail")


def count(name: str, value: int = 1) -> None:
    if value:
        metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def lambda_entry(handler: Handler) -> Handler:
    """Wrap a Lambda handler: request id in every log line, metrics flushed after each call."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        log = logger()
        log.append_keys(request_id=getattr(context, "aws_request_id", None))
        try:
            return handler(event, context)
        finally:
            sink = metrics()
            if sink.metric_set:  # an empty flush only warns
                sink.flush_metrics()

    return wrapper  # type: ignore[return-value]
