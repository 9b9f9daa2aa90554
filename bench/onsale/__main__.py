"""`make onsale`: a flash sale played around the service over Kafka.

Locally (the default), the full stack serves in a process of its own (`ordering-local serve`: both
APIs, the template's MSK mappings, the scheduled functions with the outbox relay) on a database,
a Redis database and topics of its own, with prices verified against a Catalog stand-in. In this
process: Inventory grants each seat to one customer at a time and expires the unsold ones,
Payment and Fulfillment answer the service's published events, and a crowd of signed-in
customers goes through the sale. Then the invariants are checked against the database.

Against a deployed stage: --base-url, --internal-base-url, --bootstrap-servers, --catalog-url and
the JWT's secret; --database-url for the invariants that need the database.

Prints a table (progress on stderr every 5 s), writes bench/onsale-results.json and bench/onsale.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.onsale import invariants
from bench.onsale.customers import NO_ANSWER, Crowd, Http, Pace, Shop, plans, shop
from bench.onsale.report import DatabaseSampler, draw, endpoints, lag, render, timeline
from bench.onsale.standins import Catalog, Inventory, Kafka, PaymentAndFulfillment, PublishedReader, Seat, venue
from bench.setup import Stores, database_of_its_own, round_trip_floors, run_stamp
from ordering_local import embedded
from ordering_local.embedded import free_port
from ordering_local.kafka import ensure_topics
from ordering_local.tokens import mint_token
from tests.support import PUBLISHED_TOPICS, ROOT, TOPICS

ONSALE_DATABASE = "ordering_onsale"
ONSALE_REDIS_DATABASE = 3  # 0 is `make run`'s, 1 the tests', 2 the bench's
RESULTS = ROOT / "bench" / "onsale-results.json"
TIMELINE = ROOT / "bench" / "onsale.png"
PROGRESS_EVERY_S = 5.0
# the runner's execution environments: bench/load.py found two per core best on this 2-core machine
ENVIRONMENTS = 4


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.onsale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seats", type=int, default=500)
    parser.add_argument("--hot-seats", type=int, default=50, help="the block a --hot-share of the customers want")
    parser.add_argument("--hot-share", type=float, default=0.2)
    parser.add_argument("--reservation-seconds", type=float, default=60.0, help="Inventory's reservation lifetime")
    parser.add_argument("--abandon-share", type=float, default=0.1, help="customers who leave their cart")
    parser.add_argument("--payment-failure-share", type=float, default=0.1)
    parser.add_argument(
        "--think-scale", type=float, default=0.3, help="multiplies the customers' think times (1: as people do)"
    )
    parser.add_argument("--ramp-seconds", type=float, default=20.0, help="the customers arrive over this long")
    parser.add_argument("--give-up-seconds", type=float, default=120.0, help="how long a customer waits for a seat")
    parser.add_argument(
        "--patience-seconds", type=float, default=15.0, help="once a seat is in the cart, how long to wait for the rest"
    )
    parser.add_argument("--max-seconds", type=float, default=200.0, help="the sale closes then at the latest")
    parser.add_argument("--connections", type=int, default=8, help="HTTP connections: the requests in flight at most")
    parser.add_argument("--base-url", help="a deployed stage's public API (then no local stack is started)")
    parser.add_argument("--internal-base-url", help="a deployed stage's internal API")
    parser.add_argument("--bootstrap-servers", help="a deployed stage's Kafka")
    parser.add_argument("--kafka-iam", action="store_true", help="authenticate to MSK with IAM (port 9098)")
    parser.add_argument(
        "--topic-prefix", default="", help="a deployed stage's topics: the platform's names with this prefix"
    )
    parser.add_argument("--catalog-url", help="a deployed stage's Catalog, where the seats and prices are read")
    parser.add_argument("--jwt-secret", help="the identity service's signing key, for a deployed stage")
    parser.add_argument("--jwt-secret-arn", help="… or its secret's ARN in Secrets Manager")
    parser.add_argument("--database-url", help="a deployed stage's database, for the invariants (optional)")
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args(argv)
    if args.base_url and not (args.bootstrap_servers and args.catalog_url and (args.jwt_secret or args.jwt_secret_arn)):
        parser.error("a deployed stage needs --bootstrap-servers, --catalog-url and --jwt-secret or --jwt-secret-arn")
    return args


@dataclass(frozen=True)
class Target:
    """Where the sale is played: the APIs, Kafka, the topics (the platform's name → this run's)."""

    base_url: str
    internal_base_url: str | None
    bootstrap_servers: str
    topics: dict[str, str]
    jwt_secret: str
    seats: list[Seat]
    description: str
    database_url: str | None = None
    redis_url: str | None = None


def _topics(prefix: str) -> dict[str, str]:
    return {topic: prefix + topic for topic in (*TOPICS, *PUBLISHED_TOPICS)}


def _wait_until_it_serves(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180  # every execution environment imports before it serves
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ordering-local serve ended ({process.returncode}): see {log}")
        try:
            urllib.request.urlopen(f"{base_url}/health", timeout=2)  # noqa: S310 (the runner's own http URL)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"ordering-local serve did not answer within 180 s: see {log}")


@contextlib.contextmanager
def local_stack(args: argparse.Namespace, rng: random.Random) -> Iterator[Target]:
    """The Catalog stand-in, then `ordering-local serve` on this run's database, Redis and topics."""
    seats = venue(args.seats, args.hot_seats, rng)
    catalog = Catalog(str(uuid.UUID(int=rng.getrandbits(128), version=4)), "On-sale", seats)
    found = embedded.services(ROOT)
    database_url = database_of_its_own(found.database_url, ONSALE_DATABASE)
    redis_url = found.redis_url.removesuffix("/0") + f"/{ONSALE_REDIS_DATABASE}"
    run = uuid.uuid4().hex[:8]
    topics = _topics(f"onsale-{run}-")
    ensure_topics(found.kafka_bootstrap_servers, topics.values())
    secret = embedded.jwt_secret(ROOT)
    port, internal_port = free_port(), free_port()
    state = ROOT / ".local" / "onsale"  # the runner's handled logs and failures, apart from `make run`'s
    state.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"onsale-{run}:",
        "KAFKA_BOOTSTRAP_SERVERS": found.kafka_bootstrap_servers,
        "JWT_SECRET": secret,
        "CATALOG_URL": catalog.url,
        # per customer and event, across live orders (issue 22); ignored by a service without it
        "MAX_SEATS_PER_EVENT": "4",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        embedded.STATE_VARIABLE: str(state),
        **{f"{topic.upper().replace('-', '_')}_TOPIC": name for topic, name in topics.items()},
    }
    log = state / f"serve-{run}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ordering_local.cli", "serve", "--port", str(port), "--internal-port",
             str(internal_port), "--environments", str(ENVIRONMENTS)],
            cwd=ROOT, env=environment, stdout=output, stderr=output,
        )  # fmt: skip
    try:
        _wait_until_it_serves(f"http://127.0.0.1:{port}", process, log)
        yield Target(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{internal_port}", found.kafka_bootstrap_servers,
            topics, secret, seats,
            f"local stack (ordering-local serve, {ENVIRONMENTS} environments), Catalog stand-in",
            database_url, redis_url,
        )  # fmt: skip
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        catalog.stop()


@contextlib.contextmanager
def deployed_stage(args: argparse.Namespace) -> Iterator[Target]:
    from bench.onsale.standins import seats_of_catalog

    secret = args.jwt_secret
    if secret is None:
        import boto3

        secret = boto3.client("secretsmanager").get_secret_value(SecretId=args.jwt_secret_arn)["SecretString"]
    _, seats = seats_of_catalog(args.catalog_url, args.hot_seats)
    yield Target(
        args.base_url.rstrip("/"), args.internal_base_url, args.bootstrap_servers, _topics(args.topic_prefix),
        str(secret),
        seats[: args.seats],
        f"stage {args.base_url}", args.database_url,
    )  # fmt: skip


async def _progress(started: float, http_client: Http, inventory: Inventory, crowd: Crowd, seats: int) -> None:
    seen = 0
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        made = len(http_client.requests)
        print(
            f"{time.time() - started:6.0f} s  {(made - seen) / PROGRESS_EVERY_S:6.0f} req/s  sold"
            f" {len(inventory.sold):4}/{seats}  in the shop {crowd.arrived - crowd.done:5}  done {crowd.done:5}",
            file=sys.stderr,
            flush=True,
        )
        seen = made


def _database_lags(database_url: str, inventory: Inventory, payments: PaymentAndFulfillment) -> dict[str, Any]:
    """Produce → applied, read from the rows the consumers wrote (wall clocks of one machine)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        recorded: dict[str, float] = dict(
            connection.execute(
                "SELECT id::text, extract(epoch FROM recorded_at)::float8 FROM bc_ordering.reservations"
            ).fetchall()
        )
        applied = {
            (order, kind): moment
            for order, kind, moment in connection.execute(
                "SELECT order_id::text, event_type, extract(epoch FROM occurred_at)::float8 FROM bc_ordering.outbox"
                " WHERE event_type = 'order-paid' OR (event_type = 'order-cancelled' AND reason = 'payment-failed')"
            ).fetchall()
        }
    outcome = {"payment-succeeded": "order-paid", "payment-failed": "order-cancelled"}
    return {
        "reservation-created: produced → row stored": lag(
            [(recorded[r] - at) * 1000 for r, at in inventory.produced_at.items() if r in recorded]
        ),
        "payment-*: produced → order paid/cancelled": lag(
            [
                (applied[(order, outcome[topic])] - at) * 1000
                for order, (topic, at) in payments.payment_produced_at.items()
                if (order, outcome[topic]) in applied
            ]
        ),
    }


def _sold_share_times(sold_at: list[float], seats: int, first_request: float) -> dict[str, float | None]:
    """How long from the first request until half, 90 % and 99 % of the seats were sold."""
    ordered = sorted(sold_at)
    times: dict[str, float | None] = {}
    for share in (0.5, 0.9, 0.99):
        needed = math.ceil(share * seats)
        times[f"{share:.0%}"] = ordered[needed - 1] - first_request if len(ordered) >= needed else None
    return times


def _paid_seats(database_url: str, inventory: Inventory, seats: list[Seat]) -> tuple[int, int]:
    """The sale's seats paid in the database; of them, those whose reservation Inventory had
    expired by then (the payment applied before the expiry: the order stays paid, Inventory let
    the seat go)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        paid = connection.execute(
            "SELECT DISTINCT i.reservation_id::text FROM bc_ordering.order_items i JOIN bc_ordering.orders o"
            " ON o.id = i.order_id WHERE o.state IN ('paid', 'fulfilled') AND i.seat_id = ANY(%s::uuid[])",
            ([seat.id for seat in seats],),
        ).fetchall()
    expired = [r for (r,) in paid if (grant := inventory.grants.get(r)) is not None and grant.status == "expired"]
    return len(paid), len(expired)


async def _read_order(internal: Http, order_id: str) -> dict[str, Any]:
    """The order as Fulfillment reads it; {} if the service would not say."""
    for _ in range(5):
        reply = await internal.call("GET /Orders/{id} internal", "GET", f"/Orders/{order_id}", None)
        if reply.status == 200 and isinstance(reply.body, dict):
            return reply.body
        if reply.status not in (429, 503):
            break
        await asyncio.sleep(float(reply.headers.get("retry-after", "1")))
    return {}


def kafka_security(iam: bool) -> dict[str, Any]:
    """The client settings of MSK's IAM listener (as the outbox relay's), or none (plaintext)."""
    if not iam:
        return {}

    def token(_config: str) -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        signed, expires_ms = MSKAuthTokenProvider.generate_auth_token(os.environ.get("AWS_REGION", "us-east-1"))
        return signed, expires_ms / 1000

    return {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER", "oauth_cb": token}


async def _settle(target: Target, inventory: Inventory, seconds: float) -> dict[str, list[str]]:
    """The invariants once the last events have landed: the reservations as Inventory produced
    them, checked again until they are (or `seconds` have passed)."""
    assert target.database_url is not None
    deadline = time.monotonic() + seconds
    while True:
        found = await asyncio.to_thread(invariants.check, target.database_url, dict(inventory.grants))
        if not found[invariants.RESERVATION_NOT_AS_PRODUCED] or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1.0)


async def play(args: argparse.Namespace, target: Target, rng: random.Random) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = uuid.uuid4().hex[:6]  # the customers' ids start onsale-<run>-
    security = kafka_security(args.kafka_iam)
    kafka = Kafka(target.bootstrap_servers, target.topics, security)
    inventory = Inventory(target.seats, args.reservation_seconds, kafka)
    http_client = Http(target.base_url, args.connections)
    # Fulfillment's own client, on the internal API (a stage without it: the public one, no token)
    internal = Http(target.internal_base_url or target.base_url, 2)
    payments = PaymentAndFulfillment(
        kafka, inventory, rng, failure_share=args.payment_failure_share,
        payment_delay_s=lambda: rng.uniform(1.0, 4.0) * args.think_scale,
        read_order=lambda order_id: _read_order(internal, order_id), customers=f"onsale-{run}-",
    )  # fmt: skip
    reader = PublishedReader(
        target.bootstrap_servers, [target.topics[t] for t in PUBLISHED_TOPICS], loop, payments.on_event, security
    )
    sampler = (
        DatabaseSampler(target.database_url, str(conninfo_to_dict(target.database_url).get("dbname")))
        if target.database_url
        else None
    )
    crowd = Crowd()
    crowd_plans = plans(
        target.seats, rng, customers=args.customers, hot_share=args.hot_share, abandon_share=args.abandon_share,
        ramp_s=args.ramp_seconds, run=run,
        token_of=lambda sub: mint_token(target.jwt_secret, sub, email=f"{sub}@example.com", hours=1),
    )  # fmt: skip
    at = Shop(inventory, http_client, Pace(args.think_scale, args.give_up_seconds, args.patience_seconds), crowd)
    started = time.time()
    customers = [asyncio.create_task(shop(plan, at, random.Random(rng.random()))) for plan in crowd_plans]
    progress = asyncio.create_task(_progress(started, http_client, inventory, crowd, len(target.seats)))
    _, still_shopping = await asyncio.wait(customers, timeout=args.max_seconds)
    for customer in still_shopping:
        customer.cancel()
    if still_shopping:
        crowd.outcomes["still shopping when the sale closed"] += len(still_shopping)
    sale_seconds = time.time() - started
    inventory.stop()
    await asyncio.sleep(2 * args.think_scale * 4.0 + 2.0)  # the last payments answered, their events applied
    found = (
        await _settle(target, inventory, 30.0)
        if target.database_url
        else {name: ["not checked"] for name in invariants.NAMES}
    )
    progress.cancel()
    http_client.close()
    internal.close()
    reader.stop()
    kafka.close()
    database_figures = sampler.stop() if sampler else None
    requests = sorted([*http_client.requests, *internal.requests], key=lambda request: request.sent_at)
    five_xx = [f"{r.endpoint} {r.status} {r.error}" for r in requests if r.status >= 500 or r.status == NO_ANSWER]
    found[invariants.NO_5XX] = five_xx
    # a task that raised would otherwise leave its customer (or a ticket) out of every count, unseen
    ended = [task for task in (*customers, *payments.fulfilments) if task.done() and not task.cancelled()]
    found[invariants.NO_FAILED_TASK] = [repr(task.exception()) for task in ended if task.exception() is not None]
    if sampler and database_figures:
        found[invariants.SEAT_IN_TWO_LIVE_ORDERS] += database_figures["seats_in_two_live_orders_during_run"]
    if not target.database_url:
        found[invariants.PAID_SEAT_SOLD_TWICE] = crowd.seat_seen_paid_twice  # as the customers saw their orders
    first_request = min((r.sent_at for r in requests), default=started)
    sold_out = len(inventory.sold) == len(target.seats) and inventory.sold_at
    lags = _database_lags(target.database_url, inventory, payments) if target.database_url else {}
    sold_in_database, paid_after_expiry = (
        _paid_seats(target.database_url, inventory, target.seats) if target.database_url else (None, None)
    )
    lags["reservation-created: produced → first 200 add (with think time)"] = lag(
        [(crowd.first_added_at[r] - at) * 1000 for r, at in inventory.produced_at.items() if r in crowd.first_added_at]
    )
    if not target.database_url:
        lags["payment-succeeded: produced → order-paid read on Kafka"] = lag(
            [
                (payments.published_seen_at[(order, "order-paid")] - at) * 1000
                for order, (topic, at) in payments.payment_produced_at.items()
                if topic == "payment-succeeded" and (order, "order-paid") in payments.published_seen_at
            ]
        )
    rows = timeline(requests, inventory.sold_at, first_request)
    return {
        "sale": {
            "customers": args.customers, "seats": len(target.seats), "hot_seats": args.hot_seats,
            "hot_share": args.hot_share, "reservation_s": args.reservation_seconds, "think_scale": args.think_scale,
            "payment_failure_share": args.payment_failure_share, "abandon_share": args.abandon_share,
            "seed": args.seed, "seconds": sale_seconds, "sold": len(inventory.sold),
            "sold_in_database": sold_in_database, "paid_after_inventory_expired": paid_after_expiry,
            "sold_out_s": max(inventory.sold_at) - first_request if sold_out else None,
            "sold_share_s": _sold_share_times(inventory.sold_at, len(target.seats), first_request),
            "outcomes": dict(crowd.outcomes.most_common()), "refusals": dict(crowd.refusals.most_common()),
            "granted": len(inventory.grants), "expired": inventory.expired,
            "payments": len(payments.payment_produced_at), "tickets": payments.tickets,
            "kafka_failures": kafka.failures[:5] + reader.errors[:5],
        },
        "endpoints": endpoints(requests),
        "requests": len(requests),
        "requests_per_s": len(requests) / max(1e-9, sale_seconds),
        "lags": lags,
        "database": database_figures,
        "invariants": found,
        "timeline": rows,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    wall_started = time.monotonic()
    rng = random.Random(args.seed)
    stage = deployed_stage(args) if args.base_url else local_stack(args, rng)
    print("starting the stack…" if not args.base_url else "reading the stage's Catalog…", file=sys.stderr)
    with stage as target:
        stack_start_s = time.monotonic() - wall_started
        print(f"serving after {stack_start_s:.0f} s; the sale opens", file=sys.stderr)
        results = asyncio.run(play(args, target, rng))
        if target.database_url and target.redis_url:
            results["floors"] = round_trip_floors(Stores(target.database_url, target.redis_url))
    results.update(
        **run_stamp(),
        target=target.description,
        stack_start_s=stack_start_s,
        wall_s=time.monotonic() - wall_started,
    )
    draw(
        results["timeline"], len(target.seats), TIMELINE,
        f"On-sale: {args.customers:,} customers, {len(target.seats)} seats ({results['date']})",
    )  # fmt: skip
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(render(results))
    return 1 if any(problems and problems != ["not checked"] for problems in results["invariants"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
