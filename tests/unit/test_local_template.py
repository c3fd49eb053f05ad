"""The template reader: short tags, Globals, conditions and intrinsics resolved locally."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from local.resources import ResourceCreator
from local.template import NO_VALUE, Template, TemplateError, load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEST_TEMPLATE = ROOT / "tests" / "data" / "local" / "template.yaml"


def inline(body: str, **kwargs: object) -> Template:
    return Template(path=ROOT / "inline.yaml", data=load_yaml(body), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def template() -> Template:
    return Template.load(TEST_TEMPLATE, stack_name="tagmail-test", endpoint_url="http://127.0.0.1:4566")


def test_short_tags_load_as_their_long_form() -> None:
    data = load_yaml(
        "a: !GetAtt Table.StreamArn\n"
        "b: !Sub '${AWS::Region}-x'\n"
        "c: !If [On, 1, 2]\n"
        "d: !Ref Thing\n"
        "e: !Join ['-', [!Ref A, b]]\n"
        "f: !Condition On\n"
        "g: !Base64 text\n"
    )
    assert data == {
        "a": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "b": {"Fn::Sub": "${AWS::Region}-x"},
        "c": {"Fn::If": ["On", 1, 2]},
        "d": {"Ref": "Thing"},
        "e": {"Fn::Join": ["-", [{"Ref": "A"}, "b"]]},
        "f": {"Condition": "On"},
        "g": {"Fn::Base64": "text"},
    }


def test_unknown_yaml_tag_is_refused() -> None:
    with pytest.raises(TemplateError, match="!Bogus"):
        load_yaml("a: !Bogus x")


def test_globals_are_merged_into_each_function(template: Template) -> None:
    queue = template.resource("QueueFunction").properties
    assert queue["Timeout"] == 3  # the function's own value wins
    assert queue["MemorySize"] == 256  # from Globals
    assert queue["Layers"] == [{"Ref": "TestLayer"}]
    assert set(queue["Environment"]["Variables"]) == {
        "ITEMS_TABLE",
        "WORK_QUEUE_URL",
        "STAGE",
        "RETENTION_DAYS",
        "SHARED",
    }


def test_physical_names_are_derived_from_the_stack_unless_named(template: Template) -> None:
    assert template.physical_name("ItemsTable") == "tagmail-test-ItemsTable"
    assert template.physical_name("ProvisionedTable") == "tagmail-test-provisioned-test"
    assert template.physical_name("OrderedQueue") == "tagmail-test-OrderedQueue.fifo"


def test_refs_and_attributes_resolve_like_cloudformation(template: Template) -> None:
    assert template.resolve({"Ref": "ItemsTable"}) == "tagmail-test-ItemsTable"
    assert template.resolve({"Ref": "WorkQueue"}) == "http://127.0.0.1:4566/123456789012/tagmail-test-WorkQueue"
    assert (
        template.resolve({"Fn::GetAtt": ["WorkQueue", "Arn"]})
        == "arn:aws:sqs:us-east-1:123456789012:tagmail-test-WorkQueue"
    )
    assert template.resolve({"Fn::GetAtt": ["WorkQueue", "QueueName"]}) == "tagmail-test-WorkQueue"
    assert template.resolve({"Ref": "NoticeTopic"}) == "arn:aws:sns:us-east-1:123456789012:tagmail-test-NoticeTopic"
    assert template.resolve({"Ref": "AWS::StackName"}) == "tagmail-test"
    assert template.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_stream_arn_is_known_only_once_the_table_exists(template: Template) -> None:
    with pytest.raises(TemplateError, match="StreamArn"):
        template.resolve({"Fn::GetAtt": ["ItemsTable", "StreamArn"]})
    template.attributes[("ItemsTable", "StreamArn")] = "arn:stream"
    assert template.resolve({"Fn::GetAtt": "ItemsTable.StreamArn"}) == "arn:stream"


def test_parameters_use_defaults_and_overrides() -> None:
    default = Template.load(TEST_TEMPLATE)
    assert default.resolve({"Ref": "Stage"}) == "test"
    assert default.resolve({"Ref": "RetentionDays"}) == "7"  # a Number is text where it is used
    assert Template.load(TEST_TEMPLATE, parameter_overrides={"Stage": "ci"}).resolve({"Ref": "Stage"}) == "ci"
    with pytest.raises(TemplateError, match="unknown parameters"):
        Template.load(TEST_TEMPLATE, parameter_overrides={"Nope": "1"})


def test_conditions_decide_which_resources_exist() -> None:
    assert "AuditTable" not in {r.logical_id for r in Template.load(TEST_TEMPLATE).resources()}
    with_audit = Template.load(TEST_TEMPLATE, parameter_overrides={"WithAudit": "true"})
    assert "AuditTable" in {r.logical_id for r in with_audit.resources()}


def test_sub_handles_pseudo_parameters_attributes_variables_and_literals(template: Template) -> None:
    assert template.resolve({"Fn::Sub": "${AWS::Region}/${AWS::AccountId}/${AWS::URLSuffix}"}) == (
        "us-east-1/123456789012/amazonaws.com"
    )
    assert template.resolve({"Fn::Sub": "${WorkQueue.Arn}"}).endswith(":tagmail-test-WorkQueue")
    assert template.resolve({"Fn::Sub": ["${Who} ${!Literal}", {"Who": {"Ref": "Stage"}}]}) == "test ${Literal}"
    assert len(template.resolve({"Ref": "TestApi"})) == 10  # an API id


def test_other_intrinsics(template: Template) -> None:
    assert template.resolve({"Fn::FindInMap": ["Limits", {"Ref": "Stage"}, "Batch"]}) == 5
    assert template.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert template.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-test"
    assert template.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert template.resolve({"Fn::GetAZs": ""}) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert template.resolve({"Fn::If": ["AuditOn", "yes", {"Ref": "AWS::NoValue"}]}) is NO_VALUE
    assert template.resolve({"a": {"Fn::If": ["AuditOn", 1, {"Ref": "AWS::NoValue"}]}, "b": 2}) == {"b": 2}
    assert template.resolve({"Fn::And": [{"Fn::Not": [{"Condition": "AuditOn"}]}, {"Fn::Or": [True]}]}) is True
    with pytest.raises(TemplateError, match="ImportValue"):
        template.resolve({"Fn::ImportValue": "shared-vpc"})


def test_outputs_resolve(template: Template) -> None:
    url = template.resolve(template.data["Outputs"]["ApiUrl"]["Value"])
    assert re.fullmatch(r"https://[0-9a-f]{10}\.execute-api\.us-east-1\.amazonaws\.com", url)


def test_the_real_template_is_fully_understood() -> None:
    # Resolving every resource's properties (bar what only moto knows) finds unsupported intrinsics early.
    template = Template.load(ROOT / "template.yaml")
    for logical_id, raw in template.raw_resources.items():
        if raw["Type"] == "AWS::DynamoDB::Table":
            template.attributes[(logical_id, "StreamArn")] = f"arn:stream:{logical_id}"
    for resource in template.resources():
        template.resolve(resource.properties)
    creatable = {r.logical_id for r in ResourceCreator(template, client=lambda service: None).creatable()}
    assert {"EventsTable", "UsersTable", "TriggerFailureQueue"} <= creatable


def test_an_unknown_resource_type_that_matters_is_a_clear_error() -> None:
    template = inline("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n")
    with pytest.raises(TemplateError, match=r"cannot create AWS::S3::Bucket \(Bucket\)"):
        ResourceCreator(template, client=lambda service: None).creatable()


def test_yaml_1_1_booleans_stay_text_as_in_cloudformation() -> None:
    assert load_yaml("a: [on, off, yes, no, true, false]") == {"a": ["on", "off", "yes", "no", True, False]}
