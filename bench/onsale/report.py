"""What the on-sale measured: PostgreSQL sampled while it runs, the figures, the table and the
timeline (bench/onsale.png)."""

from __future__ import annotations

import math
import statistics
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from bench.onsale.customers import Request
from bench.onsale.invariants import seats_in_two_live_orders

SAMPLE_EVERY_S = 0.5
CHECK_SEATS_EVERY = 2  # samples: the live-seat invariant every ~1 s


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": percentile(values, 0.5),
        "p95_ms": percentile(values, 0.95),
        "p99_ms": percentile(values, 0.99),
    }


class DatabaseSampler:
    """Every ~0.5 s, the database's connections and those waiting on a lock (pg_stat_activity);
    every ~1 s, whether a seat is in two live orders. Deadlocks: pg_stat_database's count, before
    and after."""

    def __init__(self, database_url: str, database: str) -> None:
        self._connection = psycopg.connect(database_url, autocommit=True)
        self._database = database
        self._stop = threading.Event()
        self.connections: list[int] = []
        self.lock_waits: list[int] = []
        self.seat_checks = 0
        self.seats_twice: list[str] = []
        self._deadlocks_before = self._deadlocks()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="pg-sampler")
        self._thread.start()

    def _deadlocks(self) -> int:
        row = self._connection.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (self._database,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _sample(self) -> None:
        tick = 0
        while not self._stop.wait(SAMPLE_EVERY_S):
            row = self._connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock') FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (self._database,),
            ).fetchone()
            if row:
                self.connections.append(int(row[0]))
                self.lock_waits.append(int(row[1]))
            tick += 1
            if tick % CHECK_SEATS_EVERY == 0:
                self.seat_checks += 1
                self.seats_twice += seats_in_two_live_orders(self._connection)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        deadlocks = self._deadlocks() - self._deadlocks_before
        self._connection.close()
        return {
            "samples": len(self.connections),
            "peak_connections": max(self.connections, default=0),
            "peak_lock_waits": max(self.lock_waits, default=0),
            "samples_with_lock_waits": sum(1 for waits in self.lock_waits if waits),
            "deadlocks": deadlocks,
            "live_seat_checks_during_run": self.seat_checks,
            "seats_in_two_live_orders_during_run": sorted(set(self.seats_twice)),
        }


def endpoints(requests: Sequence[Request]) -> dict[str, Any]:
    by_endpoint: dict[str, list[Request]] = defaultdict(list)
    for request in requests:
        by_endpoint[request.endpoint].append(request)
    return {
        name: {
            **spread([r.latency_ms for r in made]),
            "client_queue_p50_ms": percentile([r.queued_ms for r in made], 0.5),
            "client_queue_p99_ms": percentile([r.queued_ms for r in made], 0.99),
            "statuses": dict(sorted(Counter(str(r.status) for r in made).items())),
            "errors": dict(Counter(f"{r.status} {r.error}" for r in made if r.status != 200).most_common()),
        }
        for name, made in sorted(by_endpoint.items())
    }


def timeline(requests: Sequence[Request], sold_at: Sequence[float], started: float) -> list[dict[str, float]]:
    """Per second since `started`: requests sent, their p50/p99 latency, seats sold so far."""
    seconds: dict[int, list[float]] = defaultdict(list)
    for request in requests:
        seconds[int(request.sent_at - started)].append(request.latency_ms)
    sold = sorted(int(moment - started) for moment in sold_at)
    last = max([*seconds, *sold, 0])
    rows, sold_so_far = [], 0
    for second in range(last + 1):
        while sold_so_far < len(sold) and sold[sold_so_far] <= second:
            sold_so_far += 1
        latencies = seconds.get(second, [])
        rows.append({
            "second": second, "requests": len(latencies), "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "seats_sold": sold_so_far,
        })  # fmt: skip
    return rows


def draw(rows: list[dict[str, float]], seats: int, path: Path, title: str) -> None:
    """Three panels over the same seconds: requests/s, p50/p99 latency, seats sold."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    seconds = [row["second"] for row in rows]
    figure, (rate, latency, sold) = plt.subplots(3, 1, sharex=True, figsize=(10, 8))
    rate.plot(seconds, [row["requests"] for row in rows], color="tab:blue")
    rate.set_ylabel("requests/s")
    latency.plot(seconds, [row["p50_ms"] for row in rows], label="p50", color="tab:green")
    latency.plot(seconds, [row["p99_ms"] for row in rows], label="p99", color="tab:red")
    latency.set_ylabel("latency (ms)")
    latency.legend(loc="upper right")
    sold.plot(seconds, [row["seats_sold"] for row in rows], color="tab:purple")
    sold.axhline(seats, color="grey", linestyle="--", linewidth=0.8)
    sold.set_ylabel("seats sold")
    sold.set_xlabel("seconds since the first request")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def lag(pairs: Sequence[float]) -> dict[str, float]:
    """p50/p99 of lags in ms (negative ones dropped: the clocks, or another cause came first)."""
    kept = [value for value in pairs if value >= 0]
    return {
        "count": len(kept),
        "p50_ms": statistics.median(kept) if kept else 0.0,
        "p99_ms": percentile(kept, 0.99),
    }


def render(results: dict[str, Any]) -> str:
    sale, db = results["sale"], results.get("database") or {}
    left = sale["seats"] - sale["sold"]
    lines = [
        f"On-sale — {results['machine']} — {results['date']} — {results['target']}",
        f"  {sale['customers']:,} customers for {sale['seats']} seats ({sale['hot_seats']} hot, wanted by"
        f" {sale['hot_share']:.0%}), reservations of {sale['reservation_s']:g} s, think × {sale['think_scale']:g},"
        f" {sale['payment_failure_share']:.0%} of payments fail, {sale['abandon_share']:.0%} abandon,"
        f" seed {sale['seed']}",
        f"  wall time {results['wall_s']:.0f} s (stack start {results['stack_start_s']:.0f} s,"
        f" sale {sale['seconds']:.0f} s)",
        "",
        f"Sold: {sale['sold']} of {sale['seats']} seats"
        + (
            f" ({sale['sold_in_database']} paid in the database, {sale['paid_after_inventory_expired']} of them"
            " after Inventory expired their reservation)"
            if sale["sold_in_database"] is not None
            else ""
        )
        + " — "
        + (
            f"sold out in {sale['sold_out_s']:.1f} s (first request → last seat paid)"
            if sale["sold_out_s"] is not None
            else f"not sold out, {left} seat{'s' if left != 1 else ''} left"
        ),
        "  sold after "
        + ", ".join(f"{share}: {'-' if at is None else f'{at:.1f} s'}" for share, at in sale["sold_share_s"].items()),
        f"  customers: {', '.join(f'{name} {count}' for name, count in sale['outcomes'].items())}",
        f"  Inventory: {sale['granted']} reservations granted, {sale['expired']} expired; Payment: "
        f"{sale['payments']} answered; Fulfillment: {sale['tickets']} tickets",
        f"  refusals given up on: {sale['refusals'] or 'none'}",
        "",
        "Endpoint                 requests    p50      p95      p99 ms   client queue p50/p99 ms   statuses",
    ]
    for name, figures in results["endpoints"].items():
        lines.append(
            f"  {name:22} {figures['count']:7}  {figures['p50_ms']:7.1f}  {figures['p95_ms']:7.1f}  "
            f"{figures['p99_ms']:7.1f}   {figures['client_queue_p50_ms']:6.1f} / {figures['client_queue_p99_ms']:6.1f}"
            f"          {figures['statuses']}"
        )
    lines.append(f"  {results['requests']:,} requests, {results['requests_per_s']:.0f} req/s over the sale")
    lags = results["lags"]
    lines += ["", "Event lag                                          p50        p99 ms    events"]
    for name, figures in lags.items():
        lines.append(f"  {name:46} {figures['p50_ms']:8.1f}  {figures['p99_ms']:8.1f}   {figures['count']:7}")
    if db:
        lines += [
            "",
            f"PostgreSQL ({db['samples']} samples every {SAMPLE_EVERY_S:g} s):"
            f" peak connections {db['peak_connections']},"
            f" peak lock waits {db['peak_lock_waits']} ({db['samples_with_lock_waits']} samples with any),"
            f" deadlocks {db['deadlocks']}",
        ]
    floors = results.get("floors")
    if floors:
        lines.append(
            f"Floors of this run: PostgreSQL SELECT 1 p50 {floors['postgres_select_1_p50_ms']:.3f} ms,"
            f" Redis GET p50 {floors['redis_get_p50_ms']:.3f} ms"
        )
    checks = f", sampled {db['live_seat_checks_during_run']} times during the run and at its end" if db else ""
    lines += [
        "",
        f"Invariants (against the database{checks})"
        if db
        else "Invariants (no database: a paid seat sold twice, as the customers read their paid orders)",
    ]
    for name, problems in results["invariants"].items():
        verdict = "holds" if not problems else f"BROKEN ({len(problems)}): {'; '.join(problems[:3])}"
        if problems == ["not checked"]:
            verdict = "not checked (no --database-url)"
        lines.append(f"  {name:62} {verdict}")
    return "\n".join(lines)
