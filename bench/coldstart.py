"""Cold imports of the handler modules, each in a fresh interpreter, beside bare baselines.

Lambda imports ``app`` from the function's code directory with the layer on ``sys.path``; here the
interpreter runs in functions/<name>/ (so ``import app`` finds the handler) with the project venv,
where the ``tagmail`` package is installed from layers/core. Runs are interleaved (one of each
kind per round) so that drift in the machine's speed hits every kind alike.

Two bytecode situations are measured:
- ``cached``: ``.pyc`` files exist, as they do for the Python runtime's own standard library;
- ``no_bytecode``: every module outside the standard library is compiled from source, which is
  what happens in Lambda when the layer and function are built by ``sam build``: it unpacks wheels
  without compiling them and ``/opt`` is read-only, so ``__pycache__`` can never be written.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.aws import layer_paths

ROOT = Path(__file__).resolve().parent.parent

# Compiles every non-standard-library module from source (no .pyc read, none written).
NO_BYTECODE_PRELUDE = (
    "import sys, sysconfig, _frozen_importlib_external as e; "
    "std = sysconfig.get_paths()['stdlib']; site = sys.prefix; original = e.cache_from_source\n"
    "def cache_from_source(path, *args, **kwargs):\n"
    "    if not path.startswith(std) or path.startswith(site):\n"
    "        raise NotImplementedError\n"
    "    return original(path, *args, **kwargs)\n"
    "e.cache_from_source = cache_from_source\n"
)


@dataclass(frozen=True)
class Variant:
    name: str
    statement: str
    cwd: Path


VARIANTS = [
    Variant("python -c pass", "pass", ROOT),
    Variant("import boto3", "import boto3", ROOT),
    Variant("import ingest app", "import app", ROOT / "functions" / "ingest"),
    Variant("import trigger app", "import app", ROOT / "functions" / "trigger"),
]


def _clean_environment(*extra_paths: Path) -> dict[str, str]:
    """No AWS settings, no PYTHON* settings but the layer on the path (as /opt/python in Lambda)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    environment["PYTHONPATH"] = os.pathsep.join(str(path) for path in [*extra_paths, *layer_paths()])
    return environment


def _time_run(statement: str, cwd: Path, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=cwd, env=environment, check=True)
    return time.perf_counter() - started


def _summary(times: list[float]) -> dict[str, Any]:
    ordered = sorted(times)
    quarter = len(ordered) // 4
    return {
        "runs": len(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p25_ms": ordered[quarter] * 1000,
        "p75_ms": ordered[-1 - quarter] * 1000,
        "min_ms": ordered[0] * 1000,
    }


def import_times(rounds: int, no_bytecode_rounds: int) -> dict[str, Any]:
    environment = _clean_environment()
    # Warm the file cache and make sure .pyc files exist before timing the cached case.
    for variant in VARIANTS:
        _time_run(variant.statement, variant.cwd, environment)
    cached: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            cached[variant.name].append(_time_run(variant.statement, variant.cwd, environment))
    uncompiled: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
    for _ in range(no_bytecode_rounds):
        for variant in VARIANTS:
            uncompiled[variant.name].append(
                _time_run(NO_BYTECODE_PRELUDE + variant.statement, variant.cwd, environment)
            )
    result: dict[str, Any] = {"cached": {}, "no_bytecode": {}}
    for label, table in (("cached", cached), ("no_bytecode", uncompiled)):
        interpreter = statistics.median(table["python -c pass"])
        for name, times in table.items():
            summary = _summary(times)
            summary["import_ms"] = (statistics.median(times) - interpreter) * 1000
            result[label][name] = summary
    return result


def top_packages(function: str, count: int = 8) -> list[tuple[str, float]]:
    """Self import time by top-level package, from one ``python -X importtime`` run."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT / "functions" / function,
        env=_clean_environment(),
        check=True,
        capture_output=True,
        text=True,
    )
    totals: dict[str, float] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, _cumulative, name = (part.strip() for part in line.replace("import time:", "|", 1).split("|"))
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


def probe(function: str, environment: dict[str, str], runs: int) -> list[dict[str, Any]]:
    """Fresh interpreters that import a handler, check it made no client, then invoke it twice."""
    results = []
    for _ in range(runs):
        completed = subprocess.run(
            [sys.executable, "-m", "bench.cold_probe", function],
            cwd=ROOT / "functions" / function,
            env={**environment, **_clean_environment(ROOT)},
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return results
