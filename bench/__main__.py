"""`make bench`: where the service stands against the floors measured in the same run.

Prints one table and writes bench/results.json. Nothing here asserts a timing.

Round trips are counted by the proxies; "Δp50/1ms" is the same figure derived from latency
(delayed p50 minus loopback p50, over the 1 ms the proxies add per round trip), which also
carries the proxies' own forwarding cost. CPU is the process time of a request on loopback.
"""

from __future__ import annotations

import json
import os
import sys

from bench import api, consumers, kafka, load, startup
from bench.proxy import DelayProxy
from bench.setup import Stores, prepare, round_trip_floors, run_stamp, use
from tests.support import ROOT

CALLS = int(os.environ.get("BENCH_CALLS", "1000"))
LOOPBACK_RUNS = 3  # the warm API on loopback, median of these runs
ONE_WAY_DELAY_S = 0.0005  # 1 ms round trip, about Lambda → Aurora inside a VPC


def _floors(stores: Stores) -> dict[str, float]:
    return {**round_trip_floors(stores), "interpreter_start_ms": startup.interpreter_start_ms()}


def main() -> int:
    given = "DATABASE_URL" in os.environ and "REDIS_URL" in os.environ
    stores = prepare()
    results: dict[str, object] = {
        **run_stamp(),
        "stores": "given URLs" if given else "embedded PostgreSQL 16 and Redis 6.2",
    }
    print("floors…", file=sys.stderr)
    floors = _floors(stores)
    results["floors"] = floors
    print("cold starts…", file=sys.stderr)
    dependency_floors, results["cold_start"] = startup.cold_starts()
    floors["dependency_import_ms"] = dependency_floors["source"]
    floors["deployed_dependency_import_ms"] = dependency_floors["deployed"]
    print("warm API on loopback…", file=sys.stderr)
    direct = api.median_of([api.run(CALLS, f"direct-{n}") for n in range(LOOPBACK_RUNS)])
    print("warm API through the 1 ms proxies…", file=sys.stderr)
    with (
        DelayProxy(stores.postgres_upstream(), ONE_WAY_DELAY_S) as pg,
        DelayProxy(stores.redis_upstream(), ONE_WAY_DELAY_S) as cache,
    ):
        use(stores.through(pg.port, cache.port))
        delayed = api.run(CALLS, "delayed", lambda: {"postgres": pg.round_trips, "redis": cache.round_trips})
        print("consumers through the proxies…", file=sys.stderr)
        consumer_trips = consumers.run_counted(
            stores.database_url, lambda: {"postgres": pg.round_trips, "redis": cache.round_trips}
        )
    use(stores)
    results["api"] = {name: {"loopback": direct[name], "delayed": delayed[name]} for name in direct}
    print("consumers on loopback…", file=sys.stderr)
    consumer_figures = consumers.run(stores.database_url)
    for topic, trips in consumer_trips.items():
        consumer_figures[topic].update(trips)
    results["consumers"] = consumer_figures
    print("through the Kafka broker…", file=sys.stderr)
    from ordering_local import embedded

    results["kafka"] = kafka.run(
        stores.database_url, embedded.services(ROOT).kafka_bootstrap_servers, embedded.state_folder(ROOT)
    )
    print("load over HTTP (30 s)…", file=sys.stderr)
    results["load"] = load.run(stores)
    print(render(results))
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2))
    return 0


def render(results: dict) -> str:  # type: ignore[type-arg]
    floors = results["floors"]
    lines = [
        f"Ordering service benchmark — {results['machine']} — {results['date']} — stores: {results['stores']}",
        "",
        "Floors",
        f"  PostgreSQL SELECT 1 p50       {floors['postgres_select_1_p50_ms']:8.3f} ms",
        f"  Redis GET p50                 {floors['redis_get_p50_ms']:8.3f} ms",
        f"  interpreter start             {floors['interpreter_start_ms']:8.1f} ms",
        f"  dependency imports            {floors['dependency_import_ms']:8.1f} ms  from source,"
        f" {floors['deployed_dependency_import_ms']:.1f} ms as deployed",
        "",
        "Cold import (fresh interpreter, median)   from source   × floor   as deployed   × floor  boto3",
    ]
    for name, cold in results["cold_start"].items():
        lines.append(
            f"  {name:38} {cold['import_ms']:8.1f}    {cold['ratio_to_floor']:5.2f}"
            f"      {cold['deployed_import_ms']:8.1f}    {cold['deployed_ratio_to_floor']:5.2f}"
            f"   {'yes' if cold['boto3'] else 'no'}"
        )
    lines += [
        "",
        "Warm API, in-process                loopback p50/p99      1 ms-RTT p50/p99"
        "     PG RT  Redis RT  (Δp50/1ms)  CPU p50",
        f"  (loopback: median of {LOOPBACK_RUNS} runs, each run's CPU p50 in brackets)",
    ]
    for name, runs in results["api"].items():
        direct, delayed = runs["loopback"], runs["delayed"]
        lines.append(
            f"  {name:32} {direct['p50_ms']:7.2f} /{direct['p99_ms']:7.2f} ms   "
            f"{delayed['p50_ms']:7.2f} /{delayed['p99_ms']:7.2f} ms   "
            f"{delayed['postgres_round_trips']:5.2f}  {delayed['redis_round_trips']:7.2f}  "
            f"({delayed['p50_ms'] - direct['p50_ms']:5.2f})    {direct['cpu_p50_ms']:6.3f} ms"
            f"  [{', '.join(f'{cpu:.2f}' for cpu in direct['cpu_p50_ms_runs'])}]"
        )
    lines += ["", "Consumers, batch of 1,000         events/s (loopback)   PG round trips  Redis round trips"]
    for topic, figures in results["consumers"].items():
        lines.append(
            f"  {topic:32} {figures['events_per_s']:10.0f}          {figures['postgres_round_trips']:6.0f}"
            f"          {figures['redis_round_trips']:6.0f}"
        )
    through = results["kafka"]
    window, no_window, burst = through["latency_template_window"], through["latency_no_window"], through["burst"]
    direct_rate = results["consumers"]["reservation-created"]["events_per_s"]
    lines += [
        "",
        "Through the broker, reservation-created (the template's mapping, emulated)   p50 / p99",
        f"  produced → row in PostgreSQL, {window['batching_window_s']:g} s window (template)"
        f"  {window['p50_ms']:8.1f} / {window['p99_ms']:8.1f} ms",
        f"  produced → row in PostgreSQL, no batching window     {no_window['p50_ms']:8.1f}"
        f" / {no_window['p99_ms']:8.1f} ms",
        f"  {burst['records']:,} produced at once → all committed: {burst['events_per_s']:.0f} events/s"
        f" ({burst['seconds']:.2f} s; direct invocation {direct_rate:.0f} events/s,"
        f" × {burst['events_per_s'] / direct_rate:.2f})",
        "",
        "The outbox relay, to the broker",
        f"  a new producer's first round (connection, producer id): {through['relay']['first_round_ms']:.0f} ms",
        f"  a backlog of {through['relay']['events']:,} events drained:"
        f" {through['relay']['events_per_s']:.0f} events/s",
        f"  an event's commit → acknowledged by the broker (one every 50 ms): p50"
        f" {through['relay']['delay_p50_ms']:.1f} ms, p99 {through['relay']['delay_p99_ms']:.1f} ms",
    ]
    load_figures = results["load"]
    lines += [
        "",
        f"Load over HTTP: {load_figures['clients']} clients × {load_figures['seconds']:.0f} s on "
        f"{load_figures['environments']} execution environments, add-to-cart/checkout/get-order, distinct customers",
        f"  {load_figures['requests']} requests, {load_figures['requests_per_s']:.0f} req/s, "
        f"p50 {load_figures['p50_ms']:.2f} ms, p99 {load_figures['p99_ms']:.2f} ms, errors {load_figures['errors']}",
        f"  invariants after the run: {load_figures['invariants']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
