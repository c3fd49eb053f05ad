"""Runs the template's Lambda functions in this process, called exactly as Lambda calls them.

Handlers are loaded by file path (CodeUri + Handler) under a unique module name, layers'
ContentUri folders go on ``sys.path``, and each call gets a fresh Lambda-like context.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from local.template import Template, TemplateError, scalar_text

logger = logging.getLogger(__name__)

FUNCTION_TYPES = ("AWS::Serverless::Function",)
Handler = Callable[[Any, Any], Any]


class Invocable(Protocol):
    """What event sources need of a function: a name for logs, and Lambda's call signature."""

    logical_id: str

    def __call__(self, event: Any, context: Any = None) -> Any: ...


@dataclass
class LambdaContext:
    """The context object Lambda's Python runtime passes as the handler's second argument."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: float
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        return f"{day}/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass
class EventSource:
    """One entry of a function's Events, its properties resolved."""

    name: str
    type: str
    properties: dict[str, Any]


class LocalFunction:
    """One AWS::Serverless::Function, callable as ``function(event)``."""

    def __init__(
        self,
        *,
        logical_id: str,
        name: str,
        arn: str,
        code_dir: Path,
        handler: str,
        timeout: float,
        memory_mb: int,
        environment: dict[str, str],
        events: list[EventSource],
    ) -> None:
        self.logical_id = logical_id
        self.name = name
        self.arn = arn
        self.code_dir = code_dir
        self.handler_name = handler
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.environment = environment
        self.events = events
        self._handler: Handler | None = None
        self._lock = threading.Lock()
        # A Lambda container handles one event at a time, and handlers may rely on it (Powertools'
        # resolver keeps the current request on the app). Here each function is one container.
        self._invocation = threading.Lock()

    def new_context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory_mb,
            timeout_seconds=self.timeout,
        )

    def handler(self) -> Handler:
        """The handler, imported on first use (as a cold start would)."""
        with self._lock:
            if self._handler is None:
                self._handler = _load_handler(self.logical_id, self.code_dir, self.handler_name)
            return self._handler

    def __call__(self, event: Any, context: Any = None) -> Any:
        context = context or self.new_context()
        handler = self.handler()
        with self._invocation:
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                self._log_duration(started)

    def _log_duration(self, started: float) -> None:
        duration = time.monotonic() - started
        logger.debug("invoked function", extra={"function": self.logical_id, "duration_ms": round(duration * 1000, 1)})
        if duration > self.timeout:
            # Lambda would have killed it; locally we only say so.
            logger.warning(
                "function ran past its timeout",
                extra={"function": self.logical_id, "timeout_s": self.timeout, "duration_s": round(duration, 3)},
            )


def _load_handler(logical_id: str, code_dir: Path, handler: str) -> Handler:
    module_path, _, attribute = handler.rpartition(".")
    if not module_path:
        raise TemplateError(f"{logical_id}: Handler {handler!r} is not <module>.<function>")
    relative = Path(*module_path.split("."))
    candidates = [code_dir / relative.with_suffix(".py"), code_dir / relative / "__init__.py"]
    source = next((path for path in candidates if path.is_file()), None)
    if source is None:
        raise FileNotFoundError(f"{logical_id}: handler module not found at {candidates[0]}")
    module_name = f"_tagmail_local_{logical_id}_{module_path.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"{logical_id}: cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Lambda runs with the code folder on sys.path, so handlers may import their siblings.
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(str(code_dir))
    function = getattr(module, attribute, None)
    if not callable(function):
        raise TemplateError(f"{logical_id}: {source} has no callable {attribute!r}")
    return function  # type: ignore[no-any-return]


def load_functions(template: Template) -> dict[str, LocalFunction]:
    """Every function of the template, with Globals applied and intrinsics resolved."""
    functions: dict[str, LocalFunction] = {}
    for resource in template.resources(*FUNCTION_TYPES):
        props = resource.properties
        code_uri = template.resolve(props.get("CodeUri"))
        if not isinstance(code_uri, str):
            raise TemplateError(f"{resource.logical_id}: CodeUri must be a local folder")
        if props.get("PackageType", "Zip") != "Zip":
            raise TemplateError(f"{resource.logical_id}: only Zip functions run locally")
        variables = template.resolve((props.get("Environment") or {}).get("Variables") or {})
        events = [
            EventSource(name, spec["Type"], template.resolve(spec.get("Properties") or {}))
            for name, spec in (props.get("Events") or {}).items()
        ]
        functions[resource.logical_id] = LocalFunction(
            logical_id=resource.logical_id,
            name=template.physical_name(resource.logical_id),
            arn=template.arn(resource.logical_id),
            code_dir=(template.root / code_uri).resolve(),
            handler=str(template.resolve(props["Handler"])),
            timeout=float(template.resolve(props.get("Timeout", 3))),
            memory_mb=int(template.resolve(props.get("MemorySize", 128))),
            environment={key: scalar_text(value) for key, value in variables.items()},
            events=events,
        )
    return functions


def layer_paths(template: Template) -> list[Path]:
    """Folders of the template's own layers, as they appear on a function's sys.path."""
    paths: list[Path] = []
    for resource in template.resources("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
        content = template.resolve(resource.properties.get("ContentUri") or resource.properties.get("Content"))
        if not isinstance(content, str):
            continue
        folder = (template.root / content).resolve()
        # An unbuilt layer may already use Lambda's python/ layout.
        paths.append(folder / "python" if (folder / "python").is_dir() else folder)
    return paths


def shared_environment(functions: dict[str, LocalFunction]) -> dict[str, str]:
    """One environment for every function (they share a process); conflicting values raise."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function in functions.values():
        for key, value in function.environment.items():
            if key in merged and merged[key] != value:
                raise TemplateError(
                    f"environment variable {key} is {merged[key]!r} for {owner[key]} but "
                    f"{value!r} for {function.logical_id}; the local stack runs all functions "
                    "in one process and needs one value"
                )
            merged[key] = value
            owner.setdefault(key, function.logical_id)
    return merged
