"""Reads template.yaml the way CloudFormation and SAM would, for the local stack.

Only what the local stack needs is modelled: short-tag YAML, SAM ``Globals.Function``,
conditions, and the intrinsic functions with their values computed locally (physical names
are ``<stack_name>-<LogicalId>``; attributes only moto knows, such as a stream ARN, are
registered once the resource exists).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
URL_SUFFIX = "amazonaws.com"
DEFAULT_STACK_NAME = "tagmail-local"

# Marks a value CloudFormation drops (Ref AWS::NoValue).
NO_VALUE = object()

_SHORT_TAGS = (
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Select",
    "Split",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Equals",
    "Not",
    "And",
    "Or",
    "Base64",
    "Cidr",
    "Transform",
    "ToJsonString",
    "Length",
)


class TemplateError(Exception):
    """The template uses something the local stack cannot resolve."""


# A SafeLoader that turns ``!Tag value`` into CloudFormation's long form.
_CfnLoader: Any = type("_CfnLoader", (yaml.SafeLoader,), {})


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if tag_suffix not in _SHORT_TAGS:
        raise TemplateError(f"unknown YAML tag !{tag_suffix}")
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            # "!GetAtt Table.StreamArn" is the short form of ["Table", "StreamArn"].
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct_short_tag)
# YAML 1.1 reads on/off/yes/no as booleans; CloudFormation (YAML 1.2) keeps them as text.
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CfnLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError("template is not a mapping")
    return data


def _merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge (resource wins), lists concatenate, scalars are replaced."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


@dataclass
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None = None


@dataclass
class Template:
    """A parsed template plus everything needed to resolve its intrinsics locally."""

    path: Path
    data: dict[str, Any]
    stack_name: str = DEFAULT_STACK_NAME
    parameter_overrides: Mapping[str, Any] = field(default_factory=dict)
    region: str = REGION
    account_id: str = ACCOUNT_ID
    # Where moto listens; used to build queue URLs (Ref of an SQS queue).
    endpoint_url: str = "http://127.0.0.1:5000"
    # Attributes known only once a resource exists: {(logical_id, attribute): value}.
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Template:
        path = Path(path)
        return cls(path=path, data=load_yaml(path.read_text(encoding="utf-8")), **kwargs)

    def __post_init__(self) -> None:
        unknown = set(self.parameter_overrides) - set(self.data.get("Parameters") or {})
        if unknown:
            raise TemplateError(f"parameter overrides name unknown parameters: {sorted(unknown)}")
        self._conditions: dict[str, bool] = {}

    @property
    def root(self) -> Path:
        """Folder that CodeUri and DefinitionUri are relative to."""
        return self.path.parent

    # -- resources -------------------------------------------------------------------------

    @property
    def raw_resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Resources") or {})

    def resources(self, *types: str) -> Iterator[Resource]:
        """Resources (optionally of the given types) whose Condition holds, Globals applied."""
        global_sections = self.data.get("Globals") or {}
        for logical_id, raw in self.raw_resources.items():
            if types and raw.get("Type") not in types:
                continue
            condition = raw.get("Condition")
            if condition is not None and not self.condition(condition):
                continue
            properties = copy.deepcopy(raw.get("Properties") or {})
            section = _GLOBALS_SECTIONS.get(raw.get("Type", ""))
            if section and global_sections.get(section):
                properties = _merge_globals(copy.deepcopy(global_sections[section]), properties)
            yield Resource(logical_id, raw["Type"], properties, condition)

    def resource(self, logical_id: str) -> Resource:
        for found in self.resources():
            if found.logical_id == logical_id:
                return found
        raise TemplateError(f"no resource {logical_id!r} in {self.path.name}")

    def physical_name(self, logical_id: str) -> str:
        """The name a resource gets: its explicit name property, else ``<stack>-<LogicalId>``."""
        raw = self.raw_resources.get(logical_id)
        if raw is None:
            raise TemplateError(f"no resource {logical_id!r}")
        properties = raw.get("Properties") or {}
        name_property = _NAME_PROPERTIES.get(raw.get("Type", ""))
        if name_property and properties.get(name_property) is not None:
            return str(self.resolve(properties[name_property]))
        name = f"{self.stack_name}-{logical_id}"
        if raw.get("Type") == "AWS::SQS::Queue" and _truthy(self.resolve(properties.get("FifoQueue"))):
            name += ".fifo"
        return name

    def arn(self, logical_id: str) -> str:
        kind = self.raw_resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        pattern = _ARN_PATTERNS.get(kind)
        if pattern is None:
            raise TemplateError(f"no local ARN for {kind} ({logical_id})")
        return pattern.format(region=self.region, account=self.account_id, name=name)

    def queue_url(self, logical_id: str) -> str:
        return f"{self.endpoint_url}/{self.account_id}/{self.physical_name(logical_id)}"

    # -- intrinsics ------------------------------------------------------------------------

    def pseudo_parameters(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"),
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::Partition": "aws",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    def parameter(self, name: str) -> Any:
        spec = (self.data.get("Parameters") or {}).get(name)
        if spec is None:
            raise TemplateError(f"no parameter {name!r}")
        if name in self.parameter_overrides:
            value = self.parameter_overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name!r} has no default and no override")
        if str(spec.get("Type", "String")).startswith("List<") or spec.get("Type") == "CommaDelimitedList":
            return value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
        return scalar_text(value)

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        if name in (self.data.get("Parameters") or {}):
            return self.parameter(name)
        if name not in self.raw_resources:
            raise TemplateError(f"Ref to unknown name {name!r}")
        if (name, "Ref") in self.attributes:
            return self.attributes[(name, "Ref")]
        return self._derived_ref(name, self.raw_resources[name]["Type"])

    def _derived_ref(self, logical_id: str, kind: str) -> str:
        """What Ref returns before (or without) the resource existing locally."""
        if kind == "AWS::SQS::Queue":
            return self.queue_url(logical_id)
        if kind in _REF_IS_ARN:
            return self.arn(logical_id)
        if kind in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api", "AWS::ApiGatewayV2::Api"):
            return _local_id(logical_id)
        return self.physical_name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in self.attributes:
            return self.attributes[(logical_id, attribute)]
        raw = self.raw_resources.get(logical_id)
        if raw is None:
            raise TemplateError(f"GetAtt of unknown resource {logical_id!r}")
        kind = raw["Type"]
        if attribute == "Arn" and kind in _ARN_PATTERNS:
            return self.arn(logical_id)
        simple: dict[tuple[str, str], Callable[[str], Any]] = {
            ("AWS::SQS::Queue", "QueueUrl"): self.queue_url,
            ("AWS::SQS::Queue", "QueueName"): self.physical_name,
            ("AWS::SNS::Topic", "TopicArn"): self.arn,
            ("AWS::SNS::Topic", "TopicName"): self.physical_name,
            ("AWS::StepFunctions::StateMachine", "Name"): self.physical_name,
            ("AWS::Serverless::StateMachine", "Name"): self.physical_name,
        }
        getter = simple.get((kind, attribute))
        if getter is not None:
            return getter(logical_id)
        if attribute == "StreamArn":
            raise TemplateError(f"{logical_id}.StreamArn is only known once the table exists")
        raise TemplateError(f"unsupported GetAtt {logical_id}.{attribute} ({kind})")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.data.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"no condition {name!r}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """Return ``value`` with every intrinsic function replaced by its local result."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _INTRINSICS.get(key)
            if function is not None:
                return function(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def substitute(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        """Fn::Sub: ``${Name}``, ``${Resource.Attribute}``, ``${!Literal}``."""
        variables = variables or {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return scalar_text(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return scalar_text(self.get_att(logical_id, attribute))
            return scalar_text(self.ref(expression))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _sub(template: Template, argument: Any) -> str:
    if isinstance(argument, str):
        return template.substitute(argument)
    text, variables = argument
    return template.substitute(text, template.resolve(variables))


def _get_att(template: Template, argument: Any) -> Any:
    logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
    return template.get_att(logical_id, template.resolve(attribute))


def _if(template: Template, argument: Any) -> Any:
    name, when_true, when_false = argument
    return template.resolve(when_true if template.condition(name) else when_false)


def _find_in_map(template: Template, argument: Any) -> Any:
    map_name, top, second = (template.resolve(part) for part in argument[:3])
    try:
        return template.resolve(template.data["Mappings"][map_name][top][second])
    except KeyError:
        if len(argument) > 3 and "DefaultValue" in (argument[3] or {}):
            return template.resolve(argument[3]["DefaultValue"])
        raise TemplateError(f"FindInMap {map_name}/{top}/{second} not found") from None


def _import_value(template: Template, argument: Any) -> Any:
    raise TemplateError(f"Fn::ImportValue {template.resolve(argument)!r} cannot be resolved locally")


def _select(template: Template, argument: Any) -> Any:
    index, items = (template.resolve(part) for part in argument)
    return items[int(index)]


def _join(template: Template, argument: Any) -> str:
    delimiter, items = argument
    return str(delimiter).join(scalar_text(item) for item in template.resolve(items))


def _split(template: Template, argument: Any) -> list[str]:
    delimiter, text = argument
    return str(template.resolve(text)).split(str(delimiter))


def _base64(template: Template, argument: Any) -> str:
    return base64.b64encode(str(template.resolve(argument)).encode()).decode()


def _equals(template: Template, argument: Any) -> bool:
    left, right = (scalar_text(template.resolve(part)) for part in argument)
    return left == right


_INTRINSICS: dict[str, Callable[[Template, Any], Any]] = {
    "Ref": lambda template, name: template.ref(name),
    "Condition": lambda template, name: template.condition(name),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::If": _if,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
    "Fn::GetAZs": lambda template, _: [f"{template.region}{zone}" for zone in "abc"],
    "Fn::ImportValue": _import_value,
    "Fn::Equals": _equals,
    "Fn::Not": lambda template, argument: not template.resolve(argument[0]),
    "Fn::And": lambda template, argument: all(template.resolve(part) for part in argument),
    "Fn::Or": lambda template, argument: any(template.resolve(part) for part in argument),
    "Fn::Base64": _base64,
}

# SAM's Globals sections and the resource types they apply to.
_GLOBALS_SECTIONS = {
    "AWS::Serverless::Function": "Function",
    "AWS::Serverless::Api": "Api",
    "AWS::Serverless::HttpApi": "HttpApi",
    "AWS::Serverless::SimpleTable": "SimpleTable",
    "AWS::Serverless::StateMachine": "StateMachine",
    "AWS::Serverless::LayerVersion": "LayerVersion",
}

# Resource types whose name property overrides the derived physical name.
_NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SSM::Parameter": "Name",
    "AWS::SecretsManager::Secret": "Name",
}

_ARN_PATTERNS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Serverless::SimpleTable": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Serverless::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::SSM::Parameter": "arn:aws:ssm:{region}:{account}:parameter/{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}",
    "AWS::Serverless::LayerVersion": "arn:aws:lambda:{region}:{account}:layer:{name}:1",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
}

_REF_IS_ARN = {
    "AWS::SNS::Topic",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::LayerVersion",
}


def _local_id(logical_id: str) -> str:
    """A stable, API-Gateway-looking id (10 lower-case characters) for a logical id."""
    return hashlib.sha256(logical_id.encode()).hexdigest()[:10]


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def scalar_text(value: Any) -> str:
    """How CloudFormation renders a scalar in a string context (booleans are lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)) or value is NO_VALUE:
        raise TemplateError(f"expected a scalar, got {value!r}")
    return str(value)
