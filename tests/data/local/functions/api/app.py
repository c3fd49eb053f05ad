"""HTTP test handler: answers per /behave/{kind}, otherwise echoes the event it got."""

import base64
import json
import os
from typing import Any

from testlayer import GREETING

CALLS: list[dict[str, Any]] = []


def handler(event: dict[str, Any], context: Any) -> Any:  # noqa: PLR0911 - one answer per behaviour
    CALLS.append(event)
    kind = (event.get("pathParameters") or {}).get("kind")
    if kind == "boom":
        raise RuntimeError("boom")
    if kind == "text":
        return "plain text"
    if kind == "dict":
        return {"hello": "world"}
    if kind == "cookies":
        return {"statusCode": 201, "headers": {"x-one": 1}, "cookies": ["a=1; Path=/", "b=2"], "body": "ok"}
    if kind == "binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    if kind == "bad":
        return {"statusCode": "not a number"}
    if kind == "context":
        return {
            "statusCode": 200,
            "body": json.dumps(
                {
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "invoked_function_arn": context.invoked_function_arn,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "aws_request_id": context.aws_request_id,
                    "log_group_name": context.log_group_name,
                    "log_stream_name": context.log_stream_name,
                    "remaining": context.get_remaining_time_in_millis(),
                }
            ),
        }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"event": event, "greeting": GREETING, "stage": os.environ["STAGE"]}),
    }
