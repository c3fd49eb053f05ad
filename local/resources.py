"""Creates the template's data resources (tables, queues, state machines, ...) in moto.

Every resource is described once, in template.yaml; this module only translates CloudFormation
properties into the matching API calls and records the attributes moto assigns (stream ARNs,
queue URLs) so later intrinsics resolve to the real values.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import yaml

from local.template import Resource, Template, TemplateError, scalar_text

logger = logging.getLogger(__name__)

# Types the local stack does not need to create: code is run by local.runner, APIs by
# local.http_api, and permissions, logs and alarms have no local effect.
IGNORED_TYPES = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Lambda::Function",
        "AWS::Serverless::LayerVersion",
        "AWS::Lambda::LayerVersion",
        "AWS::Serverless::HttpApi",
        "AWS::Serverless::Api",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
        "AWS::Logs::SubscriptionFilter",
        "AWS::Logs::MetricFilter",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::CompositeAlarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::Serverless::Application",
        "AWS::CloudFormation::WaitConditionHandle",
    }
)
IGNORED_PREFIXES = ("AWS::IAM::",)

ClientFactory = Callable[[str], Any]


def dependencies(value: Any) -> Iterator[str]:
    """Logical ids a property value refers to (Ref, GetAtt, and ${...} in Sub)."""
    if isinstance(value, list):
        for item in value:
            yield from dependencies(item)
    elif isinstance(value, dict):
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" and isinstance(argument, str):
                yield argument
                return
            if key == "Fn::GetAtt":
                yield argument[0] if isinstance(argument, list) else str(argument).split(".")[0]
                return
            if key == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]
                for name in _sub_names(text):
                    yield name.split(".")[0]
                if isinstance(argument, list):
                    yield from dependencies(argument[1])
                return
        for item in value.values():
            yield from dependencies(item)


def _sub_names(text: str) -> Iterator[str]:
    for match in re.finditer(r"\$\{([^}!][^}]*)\}", text):
        yield match.group(1)


class ResourceCreator:
    """Creates every supported resource of a template, dependencies first."""

    def __init__(self, template: Template, client: ClientFactory) -> None:
        self.template = template
        self.client = client
        self._creators: dict[str, Callable[[Resource], None]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::Serverless::SimpleTable": self._simple_table,
            "AWS::SQS::Queue": self._queue,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::SecretsManager::Secret": self._secret,
        }

    def creatable(self) -> list[Resource]:
        """Supported resources in creation order; raises on a type that would matter."""
        wanted: dict[str, Resource] = {}
        for resource in self.template.resources():
            if resource.type in self._creators:
                wanted[resource.logical_id] = resource
            elif resource.type not in IGNORED_TYPES and not resource.type.startswith(IGNORED_PREFIXES):
                raise TemplateError(
                    f"the local stack cannot create {resource.type} ({resource.logical_id}); "
                    "teach local/resources.py to create it, or list it in IGNORED_TYPES if it "
                    "has no local effect"
                )
        return _topological(wanted, self.template)

    def create_all(self) -> dict[str, str]:
        """Create everything; returns {logical_id: physical name}."""
        created: dict[str, str] = {}
        for resource in self.creatable():
            self._creators[resource.type](resource)
            created[resource.logical_id] = self.template.physical_name(resource.logical_id)
            logger.info(
                "created resource",
                extra={
                    "logical_id": resource.logical_id,
                    "type": resource.type,
                    "physical_name": created[resource.logical_id],
                },
            )
        return created

    def _remember(self, logical_id: str, **attributes: Any) -> None:
        for name, value in attributes.items():
            self.template.attributes[(logical_id, name)] = value

    # -- DynamoDB ---------------------------------------------------------------------------

    def _table(self, resource: Resource) -> None:
        props = self.template.resolve(resource.properties)
        name = self.template.physical_name(resource.logical_id)
        billing = props.get("BillingMode", "PROVISIONED")
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            request["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                request[key] = [_index(index, billing, key) for index in props[key]]
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        if props.get("TableClass"):
            request["TableClass"] = props["TableClass"]
        if props.get("Tags"):
            request["Tags"] = props["Tags"]
        description = self.client("dynamodb").create_table(**request)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and _is_true(ttl.get("Enabled")):
            self.client("dynamodb").update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        self._remember(
            resource.logical_id,
            Ref=name,
            Arn=description["TableArn"],
            **({"StreamArn": description["LatestStreamArn"]} if "LatestStreamArn" in description else {}),
        )

    def _simple_table(self, resource: Resource) -> None:
        props = self.template.resolve(resource.properties)
        key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        kind = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
        as_table = {
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "BillingMode": "PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
        }
        if props.get("ProvisionedThroughput"):
            as_table["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        self._table(Resource(resource.logical_id, "AWS::DynamoDB::Table", as_table))

    # -- SQS / SNS ---------------------------------------------------------------------------

    def _queue(self, resource: Resource) -> None:
        props = self.template.resolve(resource.properties)
        name = self.template.physical_name(resource.logical_id)
        attributes: dict[str, str] = {}
        for key in _QUEUE_ATTRIBUTES:
            if key in props:
                value = props[key]
                attributes[key] = json.dumps(value) if isinstance(value, dict) else scalar_text(value)
        tags = {tag["Key"]: tag["Value"] for tag in props.get("Tags") or []}
        request: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if tags:
            request["tags"] = tags
        url = self.client("sqs").create_queue(**request)["QueueUrl"]
        arn = self.template.arn(resource.logical_id)
        self._remember(resource.logical_id, Ref=url, QueueUrl=url, Arn=arn, QueueName=name)

    def _topic(self, resource: Resource) -> None:
        props = self.template.resolve(resource.properties)
        name = self.template.physical_name(resource.logical_id)
        if _is_true(props.get("FifoTopic")) and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {
            key: scalar_text(props[key])
            for key in ("DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId")
            if key in props
        }
        sns = self.client("sns")
        arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        for subscription in props.get("Subscription") or []:
            sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
        self._remember(resource.logical_id, Ref=arn, TopicArn=arn, TopicName=name)

    def _subscription(self, resource: Resource) -> None:
        props = self.template.resolve(resource.properties)
        attributes = {
            key: json.dumps(props[key]) if isinstance(props[key], dict) else scalar_text(props[key])
            for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy")
            if key in props
        }
        arn = self.client("sns").subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self._remember(resource.logical_id, Ref=arn)

    # -- Step Functions -----------------------------------------------------------------------

    def _state_machine(self, resource: Resource) -> None:
        props = resource.properties
        definition = self._definition(resource)
        substitutions = self.template.resolve(props.get("DefinitionSubstitutions") or {})
        definition = substitute_definition(definition, substitutions)
        name = self.template.physical_name(resource.logical_id)
        kind = self.template.resolve(props.get("Type") or props.get("StateMachineType") or "STANDARD")
        role = self.template.resolve(props.get("Role") or props.get("RoleArn") or "") or (
            f"arn:aws:iam::{self.template.account_id}:role/{name}-role"
        )
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role, type=kind
        )["stateMachineArn"]
        self._remember(resource.logical_id, Ref=arn, Arn=arn, Name=name)

    def _definition(self, resource: Resource) -> Any:
        props = resource.properties
        if props.get("DefinitionUri") is not None or props.get("DefinitionS3Location") is not None:
            uri = self.template.resolve(props.get("DefinitionUri") or props.get("DefinitionS3Location"))
            if not isinstance(uri, str):
                raise TemplateError(
                    f"{resource.logical_id}: only a local DefinitionUri file works locally, not {uri!r}"
                )
            path = (self.template.root / uri).resolve()
            text = path.read_text(encoding="utf-8")
            return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if props.get("Definition") is not None:
            return self.template.resolve(props["Definition"])
        if props.get("DefinitionString") is not None:
            return json.loads(self.template.resolve(props["DefinitionString"]))
        raise TemplateError(f"{resource.logical_id}: state machine without a definition")

    # -- configuration ------------------------------------------------------------------------

    def _ssm_parameter(self, resource: Resource) -> None:
        props = self.template.resolve(resource.properties)
        name = self.template.physical_name(resource.logical_id)
        request = {"Name": name, "Value": scalar_text(props["Value"]), "Type": props.get("Type", "String")}
        if props.get("Description"):
            request["Description"] = props["Description"]
        self.client("ssm").put_parameter(**request)
        self._remember(resource.logical_id, Ref=name, Type=request["Type"], Value=request["Value"])

    def _secret(self, resource: Resource) -> None:
        props = self.template.resolve(resource.properties)
        name = self.template.physical_name(resource.logical_id)
        value = props.get("SecretString")
        if value is None:
            value = _generate_secret(props.get("GenerateSecretString") or {})
        arn = self.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
        self._remember(resource.logical_id, Ref=arn, Id=arn)


_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def substitute_definition(definition: Any, substitutions: dict[str, Any]) -> Any:
    """Replace ``${Name}`` in every string of an ASL document (DefinitionSubstitutions)."""
    if isinstance(definition, dict):
        return {
            substitute_definition(key, substitutions): substitute_definition(value, substitutions)
            for key, value in definition.items()
        }
    if isinstance(definition, list):
        return [substitute_definition(item, substitutions) for item in definition]
    if isinstance(definition, str):
        for name, value in substitutions.items():
            definition = definition.replace("${" + name + "}", scalar_text(value))
        return definition
    return definition


def _topological(wanted: dict[str, Resource], template: Template) -> list[Resource]:
    ordered: list[Resource] = []
    state: dict[str, str] = {}

    def visit(logical_id: str, path: tuple[str, ...]) -> None:
        if state.get(logical_id) == "done":
            return
        if state.get(logical_id) == "visiting":
            raise TemplateError(f"circular dependency: {' -> '.join((*path, logical_id))}")
        state[logical_id] = "visiting"
        raw = template.raw_resources[logical_id]
        depends_on = raw.get("DependsOn") or []
        names: Iterable[str] = [
            *dependencies(raw.get("Properties") or {}),
            *([depends_on] if isinstance(depends_on, str) else depends_on),
        ]
        for name in names:
            if name in wanted and name != logical_id:
                visit(name, (*path, logical_id))
        state[logical_id] = "done"
        ordered.append(wanted[logical_id])

    for logical_id in wanted:
        visit(logical_id, ())
    return ordered


def _throughput(value: dict[str, Any] | None) -> dict[str, int]:
    value = value or {}
    return {
        "ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5)),
    }


def _index(index: dict[str, Any], billing: str, kind: str) -> dict[str, Any]:
    request = {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
    if kind == "GlobalSecondaryIndexes" and billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
    return request


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _generate_secret(spec: dict[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = [c for c in string.ascii_letters + string.digits + "!#$%&*+-=?^_" if c not in excluded]
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    if spec.get("GenerateStringKey"):
        document = json.loads(spec.get("SecretStringTemplate") or "{}")
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password
