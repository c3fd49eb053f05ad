"""The AWS side of the benchmark: the project's local stack (moto server and every resource of
template.yaml, created by local/) in a child process, and the DynamoDB table definitions read
from template.yaml for the request-unit rules.

The stack runs in its own process so that moto's CPU time is not counted as the handler's:
``time.process_time`` of the benchmark process then measures only the client side (handler,
pynamodb, botocore).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class _IgnoreTagsLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, ...) as plain values; key schemas need none."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_IgnoreTagsLoader.add_multi_constructor("!", _any_tag)


def _template(template_path: Path) -> dict[str, Any]:
    return dict(yaml.load(template_path.read_text(encoding="utf-8"), Loader=_IgnoreTagsLoader))  # noqa: S506


def layer_paths(template_path: Path = ROOT / "template.yaml") -> list[Path]:
    """The folders of the template's layers: on sys.path for the handlers, as /opt/python is in Lambda."""
    return [
        template_path.parent / str(resource["Properties"]["ContentUri"])
        for resource in _template(template_path)["Resources"].values()
        if resource.get("Type") == "AWS::Serverless::LayerVersion"
    ]


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    physical_name: str
    properties: dict[str, Any]

    @property
    def key_attributes(self) -> list[str]:
        return [key["AttributeName"] for key in self.properties["KeySchema"]]

    def indexes(self) -> dict[str, tuple[list[str], str, list[str]]]:
        """Global secondary index name -> (key attribute names, projection type, non-key attributes)."""
        indexes = {}
        for index in self.properties.get("GlobalSecondaryIndexes", []):
            projection = index.get("Projection", {})
            indexes[index["IndexName"]] = (
                [key["AttributeName"] for key in index["KeySchema"]],
                projection.get("ProjectionType", "ALL"),
                list(projection.get("NonKeyAttributes", [])),
            )
        return indexes


def table_specs(template_path: Path, physical_names: dict[str, str]) -> dict[str, TableSpec]:
    """Every AWS::DynamoDB::Table of the template, by logical id."""
    template = _template(template_path)
    return {
        logical_id: TableSpec(logical_id, physical_names[logical_id], resource.get("Properties", {}))
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }


@dataclass(frozen=True)
class Stack:
    moto_url: str
    physical_names: dict[str, str]
    environment: dict[str, dict[str, str]]
    tables: dict[str, TableSpec]

    def dynamodb_client(self) -> Any:
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.moto_url, region_name=REGION, **CREDENTIALS)


@contextlib.contextmanager
def stack_process(module: str) -> Iterator[dict[str, Any]]:
    """Run `python -m <module>` (a local stack in a child process, so its moto server's CPU is not
    counted as the handlers') and yield the facts it prints as its first line; stop it after."""
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the local stack did not start (run `python -m {module}` to see why)")
        yield json.loads(line)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def local_stack() -> Iterator[Stack]:
    with stack_process("bench.stack_process") as facts:
        yield Stack(
            facts["moto_url"],
            facts["physical_names"],
            facts["environment"],
            table_specs(ROOT / "template.yaml", facts["physical_names"]),
        )
