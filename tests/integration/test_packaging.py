"""The `sam build` output must work on its own: each function's code plus the built layer, nothing
else on the path — so a packaging mistake fails here, not in production."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"

PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
event = json.loads(sys.argv[3])
print(json.dumps(app.lambda_handler(event, None) if event is not None else {"imported": callable(app.lambda_handler)}))
"""


def http_event(method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": headers or {},
        "body": body,
        "requestContext": {"http": {"method": method, "path": path}},
        "isBase64Encoded": False,
    }


# An event each function can answer without any AWS service behind it (None: import only, because
# every answer of that function needs a store).
OFFLINE_EVENTS: dict[str, object] = {
    "WebhookFunction": http_event("POST", "/webhooks/mailgun", "not json", {"content-type": "application/json"}),
    "UnsubscribeFunction": http_event("GET", "/u/forged"),
    "SendFunction": None,
    "AdminFunction": None,
    # Every answer needs the projects table.
    "DomainCheckFunction": None,
    # Its every answer needs the projects table.
    "QuotaFunction": None,
    "IngestFunction": {
        "version": "2.0",
        "routeKey": "OPTIONS /v1/{proxy+}",
        "rawPath": "/v1/track",
        "headers": {"origin": "https://shop.example"},
        "requestContext": {"http": {"method": "OPTIONS", "path": "/v1/track"}},
        "isBase64Encoded": False,
    },
    "TriggerFunction": {
        "Records": [
            {
                "eventID": "1",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": {"S": "p1#u:u1"}, "sk": {"S": "m:m1"}},
                    "NewImage": {
                        "pk": {"S": "p1#u:u1"},
                        "sk": {"S": "m:m1"},
                        # An identify: evaluating it needs no store (a track event reads campaigns).
                        "type": {"S": "identify"},
                        "ts": {"S": "2026-12-01T09:00:00.000Z"},
                    },
                    "SequenceNumber": "100",
                    "SizeBytes": 120,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-12-01T00:00:00.000",
            }
        ]
    },
}


# Names that resolve nowhere: building the services makes no call, and these answers need none.
OFFLINE_CONFIGURATION = {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "offline",
    "AWS_SECRET_ACCESS_KEY": "offline",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    **dict.fromkeys(
        (
            "PROJECTS_TABLE",
            "API_KEYS_TABLE",
            "USERS_TABLE",
            "EVENTS_TABLE",
            "TEMPLATES_TABLE",
            "MESSAGES_TABLE",
            "SUPPRESSIONS_TABLE",
            "STATS_TABLE",
            "IDEMPOTENCY_TABLE",
            "CAMPAIGNS_TABLE",
            "CAMPAIGN_ENTRIES_TABLE",
            "USAGE_TABLE",
            "SEND_QUEUE_URL",
            "SEND_DEAD_LETTER_QUEUE_URL",
        ),
        "offline",
    ),
    "SECRETS_PREFIX": "/offline",
    "DELAYED_SEND_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:offline",
    "PUBLIC_BASE_URL": "https://offline.example",
}

INTERPRETER_VARIABLES = ("PATH", "HOME", "PYENV_VERSION", "PYENV_ROOT")


class _CloudFormationLoader(yaml.SafeLoader):
    pass


_CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def built_functions() -> list[str]:
    if not (BUILD / "template.yaml").exists():
        pytest.fail("no sam build output: run `make build` (make test does it first)")
    template = yaml.load((BUILD / "template.yaml").read_text(), Loader=_CloudFormationLoader)  # noqa: S506
    return [name for name, resource in template["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"]


def runtime_python() -> str:
    """The template's runtime when this machine has it; the layer's pure-Python packages load on 3.11 too."""
    candidate = shutil.which("python3.12")
    if (
        candidate
        and subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False, timeout=30).returncode == 0
    ):
        return candidate
    return sys.executable


def test_every_function_is_built() -> None:
    assert set(built_functions()) == set(OFFLINE_EVENTS)


@pytest.mark.parametrize("function", sorted(OFFLINE_EVENTS))
def test_a_built_function_runs_with_only_the_built_layer(function: str) -> None:
    layer = BUILD / "CoreLayer" / "python"
    assert (layer / "tagmail" / "__init__.py").exists(), "the layer must carry the tagmail package"
    assert not (BUILD / function / "tagmail").exists(), "functions hold only their handler; tagmail is in the layer"
    result = subprocess.run(
        [
            runtime_python(),
            "-B",
            "-I",
            "-S",
            "-c",
            PROBE,
            str(BUILD / function),
            str(layer),
            json.dumps(OFFLINE_EVENTS[function]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            # Only what finds the interpreter (pyenv shims) — no AWS settings, no PYTHONPATH.
            **{
                name: os.environ[name] for name in ("PATH", "HOME", "PYENV_VERSION", "PYENV_ROOT") if name in os.environ
            },
            **OFFLINE_CONFIGURATION,
        },
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.strip().splitlines()[-1])
    if function == "IngestFunction":
        assert response["statusCode"] == 204
        assert response["headers"]["access-control-allow-origin"] == "*"
    elif function == "TriggerFunction":
        assert response == {"batchItemFailures": []}
    elif OFFLINE_EVENTS[function] is None:
        assert response == {"imported": True}
    else:
        assert response["statusCode"] == 400, response
