"""What a deploy publishes: the APIs, the event sources and the schedules invoke each function's
alias `live`, which points at the version SAM publishes when it sees the function change. A
change it does not see leaves `live` on the old code, runtime or layer. Read from SAM's own
translator (.venv-sam), as AWS's SAM transform names the versions."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support import ROOT

TRANSLATE = ROOT / "tests" / "deploy" / "sam_versions.py"


def _live_versions(**change: object) -> dict[str, str]:
    sam_python = ROOT / ".venv-sam" / "bin" / "python"
    assert sam_python.is_file(), "make test installs SAM in .venv-sam"
    done = subprocess.run(
        [str(sam_python), str(TRANSLATE), json.dumps(change)],
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


@pytest.fixture(scope="module")
def as_it_is() -> dict[str, str]:
    return _live_versions()


def test_a_deploy_that_changes_nothing_publishes_nothing(as_it_is: dict[str, str]) -> None:
    # Given the template as it is (17 functions behind `live`)
    assert len(as_it_is) == 17
    # When it is deployed again unchanged
    again = _live_versions()
    # Then every alias keeps its version
    assert again == as_it_is


@pytest.mark.parametrize(
    "change",
    [{"runtime": "python3.14"}, {"layer": "a-new-pin"}],
    ids=["a new runtime", "a new layer"],
)
def test_a_new_runtime_or_layer_reaches_every_function_whose_code_did_not_change(
    as_it_is: dict[str, str], change: dict[str, object]
) -> None:
    # Given every function's code as it is
    # When the runtime or the shared layer changes
    changed = _live_versions(**change)
    # Then every function publishes a version, which `live` names
    assert sorted(name for name in as_it_is if changed[name] == as_it_is[name]) == []
