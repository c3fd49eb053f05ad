"""Importing a handler must not read configuration, create clients or touch the network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(ROOT.glob("functions/*/app.py"))

PROBE = """
import importlib.util, os, socket, sys
import botocore.session

def forbidden(*args, **kwargs):
    raise SystemExit("forbidden at import: " + repr(args[:1]))

botocore.session.Session.create_client = forbidden
socket.socket.connect = forbidden
os.environ.clear()  # no configuration at all: the import must not need any
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
print("ok")
"""


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda path: path.parent.name)
def test_importing_a_handler_has_no_side_effects(handler: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(handler)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": str(ROOT / "layers" / "core")},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == "ok"


def test_every_function_in_the_template_has_a_handler_file() -> None:
    assert {path.parent.name for path in HANDLERS} >= {"ingest", "trigger"}
