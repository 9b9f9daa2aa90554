"""Floors that cost the same for any code (interpreter start, dependency imports) and each
function's cold import, each measured in a fresh interpreter, median of several runs."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT

RUNS = 11
# What every API function takes from its dependencies. `import pydantic` alone would be no
# floor: pydantic loads lazily, and BaseModel (which validation needs) is most of its cost.
DEPENDENCIES = (
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver\n"
    "from pydantic import BaseModel\n"
    "import psycopg, redis, jwt"
)

_TIMED_IMPORT = """
import sys, time
started = time.perf_counter()
{code}
elapsed = time.perf_counter() - started
print({{"ms": elapsed * 1000, "boto3": "boto3" in sys.modules}})
"""


def _fresh(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(code=code)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's dict
    return result


def median_import_ms(code: str, runs: int = RUNS) -> tuple[float, bool]:
    _fresh(code)  # compiles the .pyc files once, as a deployed package has them
    samples = [_fresh(code) for _ in range(runs)]
    return statistics.median(float(s["ms"]) for s in samples), any(bool(s["boto3"]) for s in samples)  # type: ignore[arg-type]


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


def cold_starts() -> dict[str, dict[str, object]]:
    floor_ms, _ = median_import_ms(DEPENDENCIES)
    results: dict[str, dict[str, object]] = {}
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        ms, boto3 = median_import_ms(function_import_code(app))
        results[app.parent.name] = {"import_ms": ms, "ratio_to_floor": ms / floor_ms, "boto3": boto3}
    return results
