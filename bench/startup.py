"""Floors that cost the same for any code (interpreter start, dependency imports) and each
function's cold import, each measured in a fresh interpreter, median of several runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT

RUNS = 11
# What every API function takes from its dependencies. `import pydantic` alone would be no
# floor: pydantic loads lazily, and BaseModel (which validation needs) is most of its cost.
# PyJWT is not among them: tokens are verified with the standard library (http/identity.py).
DEPENDENCIES = (
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver\n"
    "from pydantic import BaseModel\n"
    "import psycopg, redis"
)

_TIMED_IMPORT = """
import sys, time
started = time.perf_counter()
{code}
elapsed = time.perf_counter() - started
print({{"ms": elapsed * 1000, "boto3": "boto3" in sys.modules}})
"""


# A deployed package's dependencies come with their .pyc files (pip compiles them); so do ours
# here, even where the shell asks Python not to write any (PYTHONDONTWRITEBYTECODE).
_ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def _fresh(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(code=code)],
        cwd=ROOT, capture_output=True, text=True, check=True, env=_ENVIRONMENT,
    )  # fmt: skip
    result: dict[str, object] = eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's dict
    return result


def interpreter_start_ms(runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def function_import_code(app: Path) -> str:
    return (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(app)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))"
    )


def cold_starts() -> tuple[float, dict[str, dict[str, object]]]:
    """The dependency floor and each function's cold import, measured in interleaved rounds
    (floor, then every function, RUNS times) so that a slow moment of the machine weighs on
    all of them alike; medians."""
    targets = {"dependencies": DEPENDENCIES} | {
        app.parent.name: function_import_code(app) for app in sorted((ROOT / "functions").glob("*/app.py"))
    }
    for code in targets.values():
        _fresh(code)  # compiles the .pyc files once, as a deployed package has them
    samples: dict[str, list[dict[str, object]]] = {name: [] for name in targets}
    for _ in range(RUNS):
        for name, code in targets.items():
            samples[name].append(_fresh(code))
    medians = {name: statistics.median(float(s["ms"]) for s in runs) for name, runs in samples.items()}  # type: ignore[arg-type]
    floor_ms = medians.pop("dependencies")
    return floor_ms, {
        name: {
            "import_ms": ms,
            "ratio_to_floor": ms / floor_ms,
            "boto3": any(bool(s["boto3"]) for s in samples[name]),
        }
        for name, ms in medians.items()
    }
