"""Cold imports of each handler from what `sam build` made (.aws-sam/build), with the functions'
runtime (python3.12): the built layer with its .pyc files, against the same layer without them.

Without .pyc files is what Lambda ran when the layer was built by SAM's python3.12 build method: its
wheels are unpacked without bytecode and /opt is read-only, so every cold start compiles every
module outside the runtime's standard library. layers/core/Makefile ships unchecked-hash .pyc files.

Each run is a fresh `python3.12 -I -S -B` (no site-packages, no environment, nothing written: /opt
is read-only) with only the function's folder and the layer's python/ folder on sys.path, as in
tests/integration/test_packaging.py; rounds interleave every function and both layers.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.coldstart import _summary

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
IMPORT = "import sys; sys.path[:0] = sys.argv[1:]; import app"
INTERPRETER_ONLY = "import sys; sys.path[:0] = sys.argv[1:]"
FINDS_INTERPRETER = ("PATH", "HOME", "PYENV_VERSION", "PYENV_ROOT")


def runtime_python() -> tuple[str | None, str]:
    """The python3.12 executable itself (not a pyenv shim, whose start-up would be timed too)."""
    candidate = shutil.which("python3.12")
    if candidate is None:
        return None, "no python3.12 on PATH"
    completed = subprocess.run(
        [candidate, "-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={name: os.environ[name] for name in FINDS_INTERPRETER if name in os.environ},
    )
    lines = completed.stdout.split()
    if completed.returncode != 0 or len(lines) != 2 or lines[1] != "3.12":
        return None, f"python3.12 does not run Python 3.12 here ({completed.stderr.strip()[:120] or lines})"
    return lines[0], ""


def built_functions() -> list[str]:
    return sorted(p.parent.name for p in BUILD.glob("*/app.py"))


def pyc_facts(layer: Path) -> dict[str, Any]:
    """How many modules, how many .pyc files, of which kind (PEP 552 flags), and the sizes."""
    sources = list(layer.rglob("*.py"))
    compiled = list(layer.rglob("*.pyc"))
    kinds: dict[str, int] = {}
    for path in compiled:
        flags = int.from_bytes(path.read_bytes()[4:8], "little")
        kind = "timestamp" if not flags & 1 else "checked-hash" if flags & 2 else "unchecked-hash"
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "modules": len(sources),
        "pyc_files": len(compiled),
        "pyc_kinds": kinds,
        "layer_bytes": sum(p.stat().st_size for p in layer.rglob("*") if p.is_file()),
        "pyc_bytes": sum(p.stat().st_size for p in compiled),
    }


def _time(python: str, statement: str, paths: list[Path]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [python, "-I", "-S", "-B", "-c", statement, *map(str, paths)],
        check=True,
        env={name: os.environ[name] for name in FINDS_INTERPRETER if name in os.environ},
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def run(rounds: int) -> dict[str, Any]:
    layer = BUILD / "CoreLayer" / "python"
    python, why = runtime_python()
    if python is None or not layer.is_dir():
        return {"skipped": why or "no sam build output: run `make build` first"}
    functions = built_functions()
    facts = pyc_facts(layer)
    with tempfile.TemporaryDirectory(prefix="layer-without-pyc-") as scratch:
        bare = Path(scratch) / "python"
        shutil.copytree(layer, bare, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        layers = {"with_pyc": layer, "without_pyc": bare}
        kinds = [("python -I -S -B", INTERPRETER_ONLY, None), *((f"import {f} app", IMPORT, f) for f in functions)]
        for path in layers.values():  # warms the file cache; fails if a handler does not import
            for _, statement, function in kinds:
                _time(python, statement, [BUILD / function, path] if function else [path])
        times: dict[str, dict[str, list[float]]] = {v: {name: [] for name, _, _ in kinds} for v in layers}
        for _ in range(rounds):
            for variant, path in layers.items():
                for name, statement, function in kinds:
                    times[variant][name].append(
                        _time(python, statement, [BUILD / function, path] if function else [path])
                    )
    result: dict[str, Any] = {"python": python, "rounds": rounds, "layer": facts, "imports": {}}
    for variant, table in times.items():
        interpreter = statistics.median(table["python -I -S -B"])
        result["imports"][variant] = {}
        for name, values in table.items():
            summary = _summary(values)
            summary["import_ms"] = (statistics.median(values) - interpreter) * 1000
            result["imports"][variant][name] = summary
    return result
