"""Records every DynamoDB call a process makes, through botocore's event hooks.

Every botocore client created while the recorder is installed gets hooks on its event emitter:
``provide-client-params`` (the first event of an API call) starts the clock, ``after-call`` /
``after-call-error`` stop it, ``before-send`` counts HTTP attempts (retries show up there).
pynamodb creates its clients through ``botocore.session.Session.create_client`` like boto3 does,
so wrapping that one method sees all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.session

_STATE = "bench_call"


@dataclass
class DynamoCall:
    operation: str
    params: dict[str, Any]
    started_wall: float
    started_cpu: float
    wall: float = 0.0
    cpu: float = 0.0
    attempts: int = 0
    response: dict[str, Any] | None = None
    error_code: str | None = None
    # Filled by an observer that looks at the table before the call (capacity accounting).
    before: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return str(self.params.get("TableName", ""))


class CallRecorder:
    def __init__(self, observer: Callable[[DynamoCall], None] | None = None) -> None:
        self.calls: list[DynamoCall] = []
        self.clients_created = 0
        self._observer = observer
        self._original: Any = None

    def install(self) -> CallRecorder:
        original = self._original = botocore.session.Session.create_client
        recorder = self

        def create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = original(session, service_name, *args, **kwargs)
            recorder.clients_created += 1
            if service_name == "dynamodb":
                recorder.attach(client)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.session.Session.create_client = self._original  # type: ignore[method-assign]
            self._original = None

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._on_start)
        events.register("before-send.dynamodb.*", self._on_send)
        events.register("after-call.dynamodb.*", self._on_end)
        events.register("after-call-error.dynamodb.*", self._on_error)

    def clear(self) -> None:
        self.calls.clear()

    def _on_start(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        call = DynamoCall(model.name, params, time.perf_counter(), time.process_time())
        if self._observer is not None:
            self._observer(call)
            # The observer's own look-up is not part of the call being measured.
            call.started_wall, call.started_cpu = time.perf_counter(), time.process_time()
        context[_STATE] = call

    def _on_send(self, request: Any, **_: Any) -> None:
        call = request.context.get(_STATE)
        if call is not None:
            call.attempts += 1

    def _on_end(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.pop(_STATE, None)
        if call is None:
            return
        call.wall = time.perf_counter() - call.started_wall
        call.cpu = time.process_time() - call.started_cpu
        call.response = parsed
        call.error_code = parsed.get("Error", {}).get("Code")
        self.calls.append(call)

    def _on_error(self, exception: Exception, context: dict[str, Any], **_: Any) -> None:
        call = context.pop(_STATE, None)
        if call is None:
            return
        call.wall = time.perf_counter() - call.started_wall
        call.cpu = time.process_time() - call.started_cpu
        call.error_code = type(exception).__name__
        self.calls.append(call)
