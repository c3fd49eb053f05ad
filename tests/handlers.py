"""Loading a function's handler as Lambda does: from its file, under a name of its own."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"


def load_handler(function: str) -> ModuleType:
    """``functions/<function>/app.py`` as a fresh module (no state shared with other tests)."""
    spec = importlib.util.spec_from_file_location(f"{function}_handler_under_test", FUNCTIONS / function / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
