"""Floors that cost the same for any code (interpreter start, dependency imports) and each
function's cold import, each measured in a fresh interpreter, median of several runs.

Cold imports are measured twice: from the source tree with .venv's packages, and as deployed,
from what `sam build` made (the function's folder, and the layer as built for this machine's
architecture by the same recipe, the build's being Graviton's; nothing else), the way
Lambda imports it: no site-packages, and .pyc files read but never written (a layer is mounted
read-only), so whatever the build did not compile is compiled again at every cold start."""

from __future__ import annotations

import ast
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ordering_local.template import load
from tests.support import ROOT, current_build, host_layer

RUNS = 11
# What every API function takes from its dependencies. `import pydantic` alone would be no
# floor: pydantic loads lazily, and BaseModel (which validation needs) is most of its cost.
DEPENDENCIES = (
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver\n"
    "from pydantic import BaseModel\n"
    "import jwt, psycopg, redis"
)

TIMED_IMPORT = """
import sys, time
started = time.perf_counter()
{code}
elapsed = time.perf_counter() - started
print({{"ms": elapsed * 1000, "boto3": "boto3" in sys.modules}})
"""


# A deployed package's dependencies come with their .pyc files (pip compiles them); so do ours
# here, even where the shell asks Python not to write any (PYTHONDONTWRITEBYTECODE).
_ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def _fresh(code: str, *, deployed_from: Path | None = None) -> dict[str, object]:
    if deployed_from is None:
        command, environment = [sys.executable, "-c"], _ENVIRONMENT
    else:
        # the built layer's twin for this machine (the build's is Graviton's): the same recipe
        layer = host_layer()
        command, environment = (
            [sys.executable, "-S", "-B", "-c"],
            {"PATH": os.environ["PATH"], "PYTHONPATH": str(layer)},
        )
    done = subprocess.run(
        [*command, TIMED_IMPORT.format(code=code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    result: dict[str, object] = ast.literal_eval(done.stdout.strip().splitlines()[-1])
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


def cold_starts() -> tuple[dict[str, float], dict[str, dict[str, object]]]:
    """The dependency floors and each function's cold import, from source and as deployed,
    measured in interleaved rounds (every target once, RUNS times) so that a slow moment of
    the machine weighs on all of them alike; medians."""
    build = current_build()
    targets: dict[tuple[str, str], tuple[str, Path | None]] = {}
    for setting, deployed_from in (("source", None), ("deployed", build)):
        targets[setting, "dependencies"] = (DEPENDENCIES, deployed_from)
        for function in sorted(load(ROOT), key=lambda f: f.code_uri.name):
            app = function.module_path if deployed_from is None else deployed_from / function.name / "app.py"
            targets[setting, function.code_uri.name] = (function_import_code(app), deployed_from)
    for code, deployed_from in targets.values():
        _fresh(code, deployed_from=deployed_from)  # from source: compiles the .pyc files once, as pip does
    samples: dict[tuple[str, str], list[dict[str, object]]] = {target: [] for target in targets}
    for _ in range(RUNS):
        for target, (code, deployed_from) in targets.items():
            samples[target].append(_fresh(code, deployed_from=deployed_from))
    medians = {target: statistics.median(float(s["ms"]) for s in runs) for target, runs in samples.items()}  # type: ignore[arg-type]
    floors = {setting: medians.pop((setting, "dependencies")) for setting in ("source", "deployed")}
    functions = sorted({name for _, name in medians})
    return floors, {
        name: {
            "import_ms": medians["source", name],
            "ratio_to_floor": medians["source", name] / floors["source"],
            "deployed_import_ms": medians["deployed", name],
            "deployed_ratio_to_floor": medians["deployed", name] / floors["deployed"],
            "boto3": any(bool(s["boto3"]) for setting in ("source", "deployed") for s in samples[setting, name]),
        }
        for name in functions
    }
