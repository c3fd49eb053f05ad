"""Resource creation plans: dependencies, order and state machine substitutions (no moto here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.resources import ResourceCreator, dependencies, substitute_definition
from local.template import Template

DATA = Path(__file__).resolve().parents[1] / "data" / "local"


def test_dependencies_are_found_in_refs_getatts_and_subs() -> None:
    value = {
        "a": {"Ref": "Queue"},
        "b": [{"Fn::GetAtt": ["Table", "StreamArn"]}, {"Fn::GetAtt": "Dlq.Arn"}],
        "c": {"Fn::Sub": "${Topic} ${AWS::Region} ${!Literal} ${Machine.Name}"},
        "d": {"Fn::Sub": ["${x}", {"x": {"Ref": "Other"}}]},
    }
    assert set(dependencies(value)) == {"Queue", "Table", "Dlq", "Topic", "AWS::Region", "Machine", "x", "Other"}


def test_creation_order_puts_dependencies_first() -> None:
    template = Template.load(DATA / "template.yaml")
    order = [r.logical_id for r in ResourceCreator(template, client=lambda service: None).creatable()]
    assert order.index("WorkDeadLetterQueue") < order.index("WorkQueue")
    assert order.index("SendQueue") < order.index("DelayedSendStateMachine")
    assert order.index("SendQueue") < order.index("NoticeTopic")
    assert not {"ApiFunction", "TestLayer", "AuditTable"} & set(order)


def test_definition_substitutions_replace_placeholders_in_every_string() -> None:
    definition: dict[str, Any] = {
        "States": {"${Name}": {"Parameters": {"QueueUrl": "${Url}", "Count": 3, "List": ["x-${Name}"]}}}
    }
    assert substitute_definition(definition, {"Url": "http://q", "Name": "S"}) == {
        "States": {"S": {"Parameters": {"QueueUrl": "http://q", "Count": 3, "List": ["x-S"]}}}
    }
