"""The offline tagmail stack: moto, the template's resources, and its functions wired to events."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from local.aws import CREDENTIALS, MotoServer
from local.demo import DemoProject, create_demo_project
from local.http_api import HttpApiServer, Router, api_cors
from local.mailgun_sandbox import MailgunSandbox
from local.pollers import Poller
from local.queues import QueuePoller
from local.resources import ResourceCreator
from local.runner import LocalFunction, layer_paths, load_functions, shared_environment
from local.schedules import ScheduleTimer
from local.streams import StreamPoller
from local.template import DEFAULT_STACK_NAME, REGION, Template, TemplateError, load_yaml

logger = logging.getLogger(__name__)

ALL_EVENT_SOURCES = frozenset({"HttpApi", "DynamoDB", "SQS", "Schedule"})
# Event types with no local meaning that may appear in the template without harm.
_IGNORED_EVENT_TYPES = frozenset({"CloudWatchLogs"})


class _Stoppable(Protocol):
    def request_stop(self) -> None: ...
    def stop(self, timeout: float = 5.0) -> None: ...


class LocalStack:
    """Starts everything ``make run`` needs; usable as a context manager.

    After ``start()``: ``api_url``, ``moto_url``, ``physical_names`` (logical id → name),
    ``queue_urls`` (logical id → URL), ``function(logical_id)``, ``client(service)``,
    ``wait_idle(timeout)``, ``run_schedule_now(logical_id)`` and, once
    ``create_demo_project()`` ran, ``project`` (``id``, ``write_key``, ``admin_key``).
    """

    def __init__(
        self,
        root: str | Path = ".",
        *,
        api_port: int = 3000,
        moto_port: int = 5000,
        stack_name: str = DEFAULT_STACK_NAME,
        parameter_overrides: Mapping[str, Any] | None = None,
        event_sources: Collection[str] = ALL_EVENT_SOURCES,
        template: str = "template.yaml",
        web_root: str | Path | None = "web",
        sandbox_port: int | None = None,
    ) -> None:
        unknown = set(event_sources) - ALL_EVENT_SOURCES
        if unknown:
            raise ValueError(f"unknown event sources {sorted(unknown)}; choose from {sorted(ALL_EVENT_SOURCES)}")
        self.root = Path(root).resolve()
        self.api_port = api_port
        self.stack_name = stack_name
        self.parameter_overrides = dict(parameter_overrides or {})
        self.event_sources = frozenset(event_sources)
        self.template_path = self.root / template
        self.web_root = self.root / web_root if web_root is not None else None
        self.moto = MotoServer(moto_port, REGION)
        self.template: Template | None = None
        self.api: HttpApiServer | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.physical_names: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}
        self.pollers: list[Poller] = []
        self.schedules: dict[str, list[ScheduleTimer]] = {}
        self.environment: dict[str, str] = {}
        self._saved_environment: dict[str, str | None] = {}
        self._added_paths: list[str] = []
        self._running: list[_Stoppable] = []
        self.project: DemoProject | None = None
        # The Mailgun sandbox (started when sandbox_port is not None); demo projects send through it.
        self.sandbox_port = sandbox_port
        self.sandbox: MailgunSandbox | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        started = time.monotonic()
        self.moto.start()
        if self.sandbox_port is not None:
            self.sandbox = MailgunSandbox.demo(self.sandbox_port)
        if self.api_port == 0:
            # Links in mail and the webhook URL given to Mailgun name the API, so its port must be
            # known before the functions' environment is set.
            self.api_port = free_port()
        data = load_yaml(self.template_path.read_text(encoding="utf-8"))
        parameters = dict(self.parameter_overrides)
        if "PublicBaseUrl" in (data.get("Parameters") or {}):
            parameters.setdefault("PublicBaseUrl", f"http://127.0.0.1:{self.api_port}")
        self.template = Template(
            path=self.template_path,
            data=data,
            stack_name=self.stack_name,
            parameter_overrides=parameters,
            endpoint_url=self.moto.url,
        )
        self.physical_names = ResourceCreator(self.template, self.client).create_all()
        self.queue_urls = {
            logical_id: self.template.ref(logical_id)
            for logical_id in self.physical_names
            if self.template.raw_resources[logical_id]["Type"] == "AWS::SQS::Queue"
        }
        self.functions = load_functions(self.template)
        self.physical_names.update({fid: fn.name for fid, fn in self.functions.items()})
        self._set_environment()
        self._add_paths()
        _forget_cached_clients()
        if "HttpApi" in self.event_sources:
            apis = {
                resource.logical_id: self.template.resolve(resource.properties)
                for resource in self.template.resources("AWS::Serverless::HttpApi")
            }
            router = Router.from_functions(self.functions.values())
            self.api = HttpApiServer(router, self.api_port, self.web_root, cors=api_cors(apis))
            self.api.start()
        self._wire_event_sources()
        logger.info(
            "local stack started",
            extra={
                "api": self.api_url,
                "moto": self.moto_url,
                "functions": len(self.functions),
                "seconds": round(time.monotonic() - started, 2),
            },
        )

    def _wire_event_sources(self) -> None:
        assert self.template is not None
        for function in self.functions.values():
            for source in function.events:
                if source.type in ("Schedule", "ScheduleV2"):
                    timer = ScheduleTimer(function, source, REGION, self.template.account_id)
                    self.schedules.setdefault(function.logical_id, []).append(timer)
                    if "Schedule" in self.event_sources:
                        self._run(timer)
                elif source.type in ("DynamoDB", "SQS"):
                    if source.type not in self.event_sources or source.properties.get("Enabled") is False:
                        continue
                    kind = StreamPoller if source.type == "DynamoDB" else QueuePoller
                    poller = kind(function, source, self.client, REGION)
                    self.pollers.append(poller)
                    self._run(poller)
                elif source.type != "HttpApi" and source.type not in _IGNORED_EVENT_TYPES:
                    raise TemplateError(
                        f"{function.logical_id}.{source.name}: the local stack cannot run "
                        f"{source.type} events; teach local/stack.py"
                    )

    def _run(self, component: Poller | ScheduleTimer) -> None:
        component.start()
        self._running.append(component)

    def stop(self) -> None:
        """Stop everything this stack started (bounded waits) and restore the environment."""
        for component in self._running:
            component.request_stop()  # all at once, so their waits overlap
        for component in self._running:
            component.stop(timeout=5.0)
        self._running.clear()
        self.pollers.clear()
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        self.moto.stop()
        self._restore_environment()
        _forget_cached_clients()  # they point at the moto server that just stopped
        logger.info("local stack stopped")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- environment -------------------------------------------------------------------------

    def _set_environment(self) -> None:
        """Functions share this process, so one os.environ serves them all (as Lambda's would)."""
        self.environment = {
            **shared_environment(self.functions),
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        }
        for key, value in self.environment.items():
            self._saved_environment.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_environment(self) -> None:
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environment.clear()
        for path in self._added_paths:
            if path in sys.path:
                sys.path.remove(path)
        self._added_paths.clear()

    def _add_paths(self) -> None:
        assert self.template is not None
        for path in map(str, layer_paths(self.template)):
            if path not in sys.path:
                sys.path.insert(0, path)
                self._added_paths.append(path)

    # -- access ------------------------------------------------------------------------------

    @property
    def api_url(self) -> str | None:
        return self.api.url if self.api is not None else None

    @property
    def moto_url(self) -> str:
        return self.moto.url

    def client(self, service: str) -> Any:
        """A boto3 client pointed at moto."""
        return self.moto.client(service)

    def function(self, logical_id: str) -> LocalFunction:
        """A function of the template, callable as ``function(event)`` (context optional)."""
        try:
            return self.functions[logical_id]
        except KeyError:
            raise KeyError(f"no function {logical_id!r}; have {sorted(self.functions)}") from None

    def create_demo_project(self, name: str = "demo") -> DemoProject:
        """Create a project through tagmail.bootstrap (needs the started stack's environment)."""
        if self.template is None:
            raise RuntimeError("start the stack first")
        self.project = create_demo_project(name, self.sandbox, self.api_url)
        return self.project

    def run_schedule_now(self, function_logical_id: str) -> list[Any]:
        """Fire every schedule of a function now (timers running or not); returns the results."""
        timers = self.schedules.get(function_logical_id)
        if not timers:
            raise KeyError(f"{function_logical_id} has no Schedule/ScheduleV2 events")
        return [timer.run_now() for timer in timers]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every stream/queue poller has drained what is visible; False on timeout.

        Repeats until a full pass in which no poller did work, so chains (stream → queue)
        settle too. State machines still waiting are not covered.
        """
        deadline = time.monotonic() + timeout
        while True:
            marks = {poller: poller.mark() for poller in self.pollers}
            for poller, (cycle, _) in marks.items():
                if not poller.wait_idle_after(cycle, deadline):
                    return False
            if all(poller.mark()[1] == work for poller, (_, work) in marks.items()):
                return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _forget_cached_clients() -> None:
    """tagmail's composition root caches clients built from os.environ; a new stack needs new ones."""
    bootstrap = sys.modules.get("tagmail.bootstrap")
    reset = getattr(bootstrap, "reset", None)
    if callable(reset):
        reset()
