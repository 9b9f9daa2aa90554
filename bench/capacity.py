"""`make capacity`: the figures docs/capacity.md sizes an on-sale with.

1. Each hot function's duration per invocation and the time in PostgreSQL and Redis within it
   (bench/durations.py), on loopback and through proxies that add 1 ms per round trip.
2. The hot statements' rate on this machine's PostgreSQL by concurrency (bench/statements.py).

Prints progress to stderr and one table to stdout, and writes bench/capacity-results.json.
Nothing here asserts a timing. Scale it down with the flags (or CAPACITY_* variables), e.g.
`python -m bench.capacity --calls 100 --levels 1,4 --seconds 1`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from bench import durations, statements
from bench.proxy import DelayProxy
from bench.setup import prepare, run_stamp, use
from tests.support import ROOT

ONE_WAY_DELAY_S = 0.0005  # 1 ms round trip, about Lambda → RDS Proxy → Aurora inside a VPC (bench/__main__.py)
RESULTS = ROOT / "bench" / "capacity-results.json"


def _arguments() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", type=int, default=int(env("CAPACITY_CALLS", "300")), help="customers per API operation"
    )
    parser.add_argument("--seats", type=int, default=int(env("CAPACITY_SEATS", "3")), help="seats each customer adds")
    parser.add_argument(
        "--batch", type=int, default=int(env("CAPACITY_BATCH", "500")), help="records per consumer batch"
    )
    parser.add_argument(
        "--batches", type=int, default=int(env("CAPACITY_BATCHES", "8")), help="consumer batches per topic"
    )
    parser.add_argument(
        "--levels", default=env("CAPACITY_LEVELS", "1,2,4,8,16,32"), help="concurrent connections, comma-separated"
    )
    parser.add_argument(
        "--seconds", type=float, default=float(env("CAPACITY_SECONDS", "2.5")), help="per statement and level"
    )
    parser.add_argument(
        "--lifecycle-batch", type=int, default=int(env("CAPACITY_LIFECYCLE_BATCH", "100")), help="payments per batch"
    )
    parser.add_argument("--no-rtt", action="store_true", help="skip the durations through the 1 ms proxies")
    return parser.parse_args()


def main() -> int:
    arguments = _arguments()
    started = time.perf_counter()
    given = "DATABASE_URL" in os.environ and "REDIS_URL" in os.environ
    stores = prepare()
    results: dict[str, Any] = {
        **run_stamp(),
        "stores": "given URLs" if given else "embedded PostgreSQL 16 (unix socket) and Redis 6.2",
        "settings": {key: value for key, value in vars(arguments).items()},
    }
    print("durations on loopback…", file=sys.stderr)
    scale = {"calls": arguments.calls, "batch": arguments.batch, "batches": arguments.batches, "seats": arguments.seats}
    results["durations"] = {"loopback": durations.run(stores.database_url, tag="loopback", **scale)}
    if not arguments.no_rtt:
        print("durations through the 1 ms proxies…", file=sys.stderr)
        with (
            DelayProxy(stores.postgres_upstream(), ONE_WAY_DELAY_S) as pg,
            DelayProxy(stores.redis_upstream(), ONE_WAY_DELAY_S) as cache,
        ):
            use(stores.through(pg.port, cache.port))
            results["durations"]["rtt_1ms"] = durations.run(stores.database_url, tag="rtt", **scale)
        use(stores)
    print("statements by concurrency, straight at PostgreSQL…", file=sys.stderr)
    levels = [int(level) for level in arguments.levels.split(",")]
    results["statements"] = statements.run(stores.database_url, levels, arguments.seconds, arguments.lifecycle_batch)
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    print(f"written to {RESULTS.relative_to(ROOT)} in {results['runtime_s']:.0f} s", file=sys.stderr)
    return 0


def _duration_rows(figures: dict[str, Any]) -> list[str]:
    return [
        f"{figures['wall_p50_ms']:7.2f} /{figures['wall_p99_ms']:7.2f}",
        f"{figures['postgres_p50_ms']:6.2f} /{figures['postgres_p99_ms']:6.2f}",
        f"{figures['postgres_wait_p50_ms']:6.2f}",
        f"{figures['redis_p50_ms']:5.2f} /{figures['redis_p99_ms']:5.2f}",
        f"{figures['cpu_p50_ms']:6.2f}",
    ]


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Ordering capacity — {results['machine']} — {results['date']} — stores: {results['stores']}",
        "",
        "Durations per invocation, in-process, warm (ms)   wall p50/p99     PG p50/p99   PG wait"
        "  Redis p50/p99  CPU p50",
    ]
    for setting, label in (("loopback", "loopback"), ("rtt_1ms", "1 ms RTT")):
        measured = results["durations"].get(setting)
        if measured is None:
            continue
        lines.append(f"  {label}")
        for name, figures in measured["api"].items():
            lines.append(f"    {name:44} " + "   ".join(_duration_rows(figures)))
        for topic, figures in measured["consumers"].items():
            batch = figures["records_per_batch"]
            lines.append(f"    {topic + f', batch of {batch}':44} " + "   ".join(_duration_rows(figures["per_batch"])))
            lines.append(f"    {'  per record':44} " + "   ".join(_duration_rows(figures["per_record"])))
    lines += [
        "",
        "Statements straight at PostgreSQL, N client processes (one connection each), sharing the cores with it",
        "  (CPU: shares of all cores — PostgreSQL's backends, the clients, the whole machine, its other load included)",
        "  statement          N    stmts/s   records/s    p50 ms    p99 ms   server  clients  machine  server ms/stmt",
    ]
    for statement, figures in results["statements"].items():
        for connections, level in figures["levels"].items():
            lines.append(
                f"  {statement:16} {connections:>3} {level['statements_per_s']:10.0f} {level['records_per_s']:11.0f}"
                f" {level['p50_ms']:9.2f} {level['p99_ms']:9.2f}   {level['server_cpu_pct']:4.0f} %"
                f"   {level['client_cpu_pct']:4.0f} %   {level['machine_cpu_busy_pct']:4.0f} %"
                f"   {level['server_cpu_ms_per_statement']:8.3f}"
                f"{'  rows ran out' if level['rows_ran_out'] else ''}"
                f"{'  REFUSED ' + str(level['refused']) if level['refused'] else ''}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
