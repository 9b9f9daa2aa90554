from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_an_invocation_with_nothing_to_count_logs_no_warning() -> None:
    # Given a fresh interpreter, as a Lambda environment starts, showing every warning
    # When an invocation ends having counted nothing (a schedule with no Catalog, an empty poll)
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c",
         "from ordering.observability import metrics\n"
         "@metrics.log_metrics\n"
         "def handler(event, context): return {}\n"
         "handler({}, None)"],
        check=False, cwd=ROOT / "layers" / "ordering", capture_output=True, text=True, timeout=60,
        env={"PATH": "", "POWERTOOLS_METRICS_NAMESPACE": "Ordering"},
    )  # fmt: skip
    # Then it succeeds and its log holds no warning about it
    assert done.returncode == 0, done.stderr
    assert "No application metrics" not in done.stderr + done.stdout
