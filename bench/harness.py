"""Runs the Lambda handlers in this process, as the Lambda runtime would, against the moto server."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.aws import Stack, layer_paths

ROOT = Path(__file__).resolve().parent.parent

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def function_environment(stack: Stack, function: str = "IngestFunction") -> dict[str, str]:
    """The function's environment as template.yaml gives it (resolved by the local stack)."""
    return {
        **stack.environment[function],
        # Nothing outside the local stack is read: no profile, no metadata service.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        # Deployed functions publish their metrics (EMF lines on stdout); so do they here.
        "POWERTOOLS_METRICS_DISABLED": "false",
    }


def use_layers() -> None:
    """Import tagmail from this checkout's layer folder, whatever the virtualenv has installed."""
    for path in reversed(layer_paths()):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/app.py under its own name (every handler module is called app)."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_{function}_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _ByteCounter(io.TextIOBase):
    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8"))
        self.lines += text.count("\n")
        return len(text)


@contextlib.contextmanager
def counted_stdout() -> Iterator[_ByteCounter]:
    """What the handlers print (Powertools' EMF metric lines) is counted, not shown."""
    counter = _ByteCounter()
    with contextlib.redirect_stdout(counter):
        yield counter


@dataclass
class Project:
    project_id: str
    write_key: str


def setup(stack: Stack) -> Project:
    os.environ.update(function_environment(stack))
    from tagmail import bootstrap

    bootstrap.reset()
    created = bootstrap.project_admin().create_project("bench")
    return Project(created.project_id, created.write_key)
