"""Delayed sends as Step Functions Standard executions of the delayed-send state machine
(statemachines/delayed_send.asl.json): Wait until `due_at`, then sqs:sendMessage of the request."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tagmail.domain.sending import SendRequest
from tagmail.domain.triggers import wait_timestamp
from tagmail.errors import DependencyUnavailable


class SfnDelayedSends:
    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start(self, name: str, due_at: datetime, request: SendRequest) -> str:
        """Start the named execution; a name started before (the same entry again) is not an error:
        the input is the same, so the one execution stands for both."""
        document = {"due_at": wait_timestamp(due_at), "send_request": request.to_json()}
        try:
            started = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(document, separators=(",", ":"))
            )
        except ClientError as exc:
            if _code(exc) == "ExecutionAlreadyExists":
                return self.execution_arn(name)
            raise DependencyUnavailable(f"StartExecution failed: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("StartExecution failed") from exc
        return str(started["executionArn"])

    def stop(self, execution_arn: str) -> None:
        """Stop a pending send; one that ended already (or never started) needs nothing."""
        try:
            self._sfn.stop_execution(executionArn=execution_arn, cause="cancelled by tagmail")
        except ClientError as exc:
            if _code(exc) == "ExecutionDoesNotExist":
                return
            raise DependencyUnavailable(f"StopExecution failed: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("StopExecution failed") from exc

    def execution_arn(self, name: str) -> str:
        """arn:<partition>:states:<region>:<account>:stateMachine:<machine> → …:execution:<machine>:<name>"""
        prefix, _, machine = self._arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "ClientError"))
