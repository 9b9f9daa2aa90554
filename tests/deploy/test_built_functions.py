"""What `sam build` produced runs as Lambda would run it: each function's folder and the built
layer, nothing else from this machine (the built layer's own dependencies, not .venv's)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, current_build, host_layer

# Runs in a bare interpreter (-S: no site-packages) with only the built layer on the path.
DRIVER = r"""
import importlib.util, json, sys
from pathlib import Path

build = Path(sys.argv[1]); events = Path(sys.argv[2])

class Context:
    function_name = "built"; memory_limit_in_mb = 1024; aws_request_id = "built-test"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:built"
    def get_remaining_time_in_millis(self): return 10_000

def handler(function):
    spec = importlib.util.spec_from_file_location(f"built_{function}", build / function / "app.py")
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module.lambda_handler

def event(name): return json.loads((events / name).read_text())

import ordering
results = {"ordering": ordering.__file__}
results["reservation"] = handler("ReservationEventsFunction")(event("msk/reservation-created.json"), Context())
for function, sample in [("AddToCartFunction", "add-to-cart"), ("CheckoutFunction", "checkout"),
                         ("GetOrderFunction", "get-order")]:
    response = handler(function)(event(f"api/{sample}.json"), Context())
    results[function] = [response["statusCode"], json.loads(response["body"])]
results["modules"] = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def built() -> Path:
    return current_build()


def test_built_functions_run_on_the_built_layer_alone(built: Path, stores: dict[str, str]) -> None:
    # Given the build output and nothing else on the path but the built layer (its twin for this
    # machine's architecture: the same recipe and pins, wheels this machine can load)
    layer = host_layer()
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(layer),
        **stores,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    # When the reservation sample is consumed and each API function is invoked with its sample event
    done = subprocess.run(
        [sys.executable, "-S", "-c", DRIVER, str(built), str(ROOT / "events")],
        capture_output=True, text=True, env=environment, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])

    # Then the code came from the built layer and every function answered as it does from source
    assert results["ordering"].startswith(str(layer))
    assert results["reservation"] == {"batchItemFailures": []}
    assert results["AddToCartFunction"][0] == 200, results["AddToCartFunction"]
    assert results["AddToCartFunction"][1]["items"][0]["seatNumber"] == "VIP-A-12"
    assert results["CheckoutFunction"] == [404, {"error": "Order not found"}]
    assert results["GetOrderFunction"] == [404, {"error": "Order not found"}]
    assert "boto3" not in results["modules"]


def test_the_built_layer_ships_every_module_compiled(built: Path) -> None:
    # Given the built layer (Lambda mounts it read-only at /opt, where Python cannot cache .pyc)
    python = built / "OrderingLayer" / "python"
    modules = list(python.rglob("*.py"))
    assert len(modules) > 500, len(modules)

    # Then every module comes with its compiled form, so no cold start compiles it again
    missing = [
        str(m.relative_to(python)) for m in modules if not Path(importlib.util.cache_from_source(str(m))).is_file()
    ]
    assert missing == []


# Lambda's limits for what it runs: arm64 (Graviton) on Amazon Linux 2023, whose glibc is 2.34,
# and 250 MB unzipped for a function with its layers.
EM_AARCH64 = 183
GLIBC_MAX = (2, 34)
UNZIPPED_MAX_BYTES = 250 * 1024 * 1024


def _elf_machine(data: bytes) -> int | None:
    """The ELF header's e_machine, or None for what is not an ELF file."""
    if data[:4] != b"\x7fELF":
        return None
    return int.from_bytes(data[18:20], "little" if data[5] == 1 else "big")


def _highest_glibc(data: bytes) -> tuple[int, int]:
    """The newest GLIBC_x.y symbol version the binary asks for."""
    found = [(int(major), int(minor)) for major, minor in re.findall(rb"GLIBC_(\d+)\.(\d+)", data)]
    return max(found, default=(0, 0))


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_every_compiled_extension_is_built_for_gravitons_amazon_linux_2023(built: Path) -> None:
    # Given the layer and the functions `sam build` made for the template's arm64 python3.13
    binaries = [path for path in built.rglob("*") if path.is_file() and (".so" in path.name)]
    assert binaries, "the layer has compiled extensions (psycopg, pydantic-core, hiredis…)"
    # Then each is an aarch64 ELF asking for no glibc newer than Amazon Linux 2023's
    wrong = {}
    for path in binaries:
        data = path.read_bytes()
        machine, glibc = _elf_machine(data), _highest_glibc(data)
        if machine != EM_AARCH64 or glibc > GLIBC_MAX:
            wrong[str(path.relative_to(built))] = (machine, glibc)
    assert wrong == {}


def test_the_layer_and_the_largest_function_fit_lambdas_250_mb(built: Path) -> None:
    # Given the built layer and each built function's own folder
    layer = _size(built / "OrderingLayer")
    functions = {path.name: _size(path) for path in built.iterdir() if (path / "app.py").is_file()}
    # Then the layer with the largest of them stays under Lambda's unzipped limit
    largest = max(functions, key=functions.__getitem__)
    assert layer + functions[largest] < UNZIPPED_MAX_BYTES, (layer, largest, functions[largest])
