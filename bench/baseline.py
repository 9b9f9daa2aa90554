"""`python -m bench.baseline REV PYTHON`: the API functions' cold imports as deployed at another
revision (its functions and its layer, built by its own layers/ordering/Makefile with PYTHON)
against this checkout's (built for this machine with its Python), in interleaved rounds on one
machine, medians. For a change of Python or of the layer's recipe: the figure before and after
in one run (bench/RESULTS.md)."""

from __future__ import annotations

import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.startup import DEPENDENCIES, RUNS, TIMED_IMPORT, function_import_code
from tests.support import ROOT, host_layer

API_FUNCTIONS = (
    "add_to_cart", "cancel_order", "checkout", "get_cart", "get_order", "health", "list_orders",
    "place_waitlist_order", "remove_cart_item",
)  # fmt: skip


def _build_revision(revision: str, python: str, folder: Path) -> Path:
    """The revision's functions and layer, the layer built by its own Makefile with `python`."""
    archive = subprocess.run(
        ["git", "archive", revision, "layers", "functions"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    subprocess.run(
        ["make", "-C", str(folder / "layers" / "ordering"), "build-OrderingLayer",
         f"ARTIFACTS_DIR={folder / 'layer'}", f"PYTHON={python}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / "layer" / "python"


def _import_ms(python: str, layer: Path, code: str) -> float:
    done = subprocess.run(
        [python, "-S", "-B", "-c", TIMED_IMPORT.format(code=code)],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(layer)},
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    return float(result["ms"])


def main(revision: str, python: str) -> int:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        sides = {
            "before": (python, _build_revision(revision, python, folder), folder / "functions"),
            "after": (sys.executable, host_layer(), ROOT / "functions"),
        }
        targets = {
            (side, name): (interpreter, layer, DEPENDENCIES if name == "dependencies" else
                           function_import_code(functions / name / "app.py"))
            for side, (interpreter, layer, functions) in sides.items()
            for name in ("dependencies", *API_FUNCTIONS)
        }  # fmt: skip
        for interpreter, layer, code in targets.values():
            _import_ms(interpreter, layer, code)  # warm the file system's cache
        samples: dict[tuple[str, str], list[float]] = {target: [] for target in targets}
        for round_number in range(RUNS):
            print(f"round {round_number + 1}/{RUNS}…", file=sys.stderr)
            for target, (interpreter, layer, code) in targets.items():
                samples[target].append(_import_ms(interpreter, layer, code))
    medians = {target: statistics.median(values) for target, values in samples.items()}
    versions = {
        side: subprocess.run([interpreter, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
        for side, (interpreter, _, _) in sides.items()
    }  # fmt: skip
    print(
        f"Cold import as deployed, median of {RUNS}: {revision} on Python {versions['before']} → this checkout"
        f" on Python {versions['after']}"
    )
    for name in ("dependencies", *API_FUNCTIONS):
        before, after = medians["before", name], medians["after", name]
        print(f"  {name:22} {before:8.1f} ms → {after:8.1f} ms   × {after / before:5.2f}")
    (ROOT / "bench" / "baseline.json").write_text(
        json.dumps({"revision": revision, "versions": versions, "ms": {f"{s}:{n}": v for (s, n), v in medians.items()}})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
