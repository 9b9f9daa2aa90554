"""What PostgreSQL on this machine sustains of the service's hot statements, by concurrency.

Each statement is the service's own (the store functions of ordering.store.*), driven straight
at PostgreSQL by N client processes (one connection each, as N Lambda execution environments
would hold through RDS Proxy), for a fixed time per level. Processes, not threads: the client
side of a statement is Python (parameters, rows, the domain's fold) and would serialise on the
interpreter lock long before the server saturates. The clients share the machine's cores with
PostgreSQL, so the figures are of the pair; the CPU columns say how the cores were shared.

The rows each level consumes (reservations to add, carts to check out, orders to pay) are
written beforehand with COPY, outside the measured time, sized from the fastest level so far.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psutil
import psycopg

from ordering.domain.batch import Consumed, fold
from ordering.domain.identity import Caller, secret_hash
from ordering.domain.lifecycle import PaymentSucceeded
from ordering.domain.reservation import Reservation
from ordering.store import orders
from ordering.store.ledger import DeadLetter, Delivery
from ordering.store.lifecycle import batch_transaction
from ordering.usecases.clock import utc_now

PRICE = Decimal("50.00")
SEATS_PER_CART = 3  # about three tickets per buyer (docs/capacity.md)
MAX_SEATS = 10  # MAX_SEATS_PER_ORDER's default
READ_POOL = 3_000  # orders get-order reads, over and over
# a first level's guess of statements per second, before any was measured (generous: rows unused cost little)
FIRST_GUESS = {"add-to-cart": 3_000.0, "checkout": 3_000.0, "get-order": 0.0, "lifecycle batch": 60.0}


@dataclass(frozen=True)
class Level:
    statement: str
    connections: int
    seconds: float
    count: int
    refused: int
    exhausted: bool
    latencies_ms: list[float]
    client_cpu_s: float
    server_cpu_s: float
    machine_busy_s: float

    def figures(self, records_per_statement: int) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        rate = self.count / self.seconds
        cores = os.cpu_count() or 1
        return {
            "connections": self.connections,
            "statements": self.count,
            "seconds": round(self.seconds, 3),
            "statements_per_s": rate,
            "records_per_s": rate * records_per_statement,
            "p50_ms": statistics.median(ordered) if ordered else None,
            "p99_ms": ordered[max(0, round(len(ordered) * 0.99) - 1)] if ordered else None,
            "refused": self.refused,
            "rows_ran_out": self.exhausted,
            # shares of the machine's cores over the level: the clients' processes, their PostgreSQL
            # backends, and everything busy (the machine's other load included)
            "client_cpu_pct": 100 * self.client_cpu_s / (self.seconds * cores),
            "server_cpu_pct": 100 * self.server_cpu_s / (self.seconds * cores),
            "machine_cpu_busy_pct": 100 * self.machine_busy_s / (self.seconds * cores),
            "server_cpu_ms_per_statement": 1000 * self.server_cpu_s / self.count if self.count else None,
        }


# ---------------------------------------------------------------- rows written beforehand


def _copy(connection: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY bc_ordering.{table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


_RESERVATION_COLUMNS = (
    "id", "seat_id", "customer_hash", "seat_number", "section", "base_price", "status", "created_at", "expires_at",
)  # fmt: skip
_ORDER_COLUMNS = ("id", "user_id", "state", "total_amount", "item_count", "created_at", "updated_at")
_ITEM_COLUMNS = ("id", "order_id", "order_live", "seat_id", "price", "reservation_id", "created_at")


def _analyze(connection: psycopg.Connection[Any]) -> None:
    """Fresh statistics after a bulk load, as autovacuum would take them before long: without
    them the planner takes the tables for as small as they were (a first run found the payment
    batch's server CPU three times higher on a few 100,000 rows loaded and never analyzed)."""
    connection.execute("ANALYZE bc_ordering.reservations, bc_ordering.orders, bc_ordering.order_items")


def _reservation(user: str, now: datetime) -> Reservation:
    return Reservation(uuid.uuid4(), uuid.uuid4(), secret_hash(user), "A-1", "A", Decimal(0), "active", now,
                       now + timedelta(hours=2))  # fmt: skip


def _reservation_row(r: Reservation) -> tuple[Any, ...]:
    return (r.id, r.seat_id, r.customer_hash, r.seat_number, r.section, r.base_price, r.status, r.created_at,
            r.expires_at)  # fmt: skip


def reservations_to_add(database_url: str, carts: int) -> list[list[tuple[str, Reservation]]]:
    """Live reservations, SEATS_PER_CART per customer, a customer's together: the first add
    makes the cart, the others add to it, as a buyer of three seats does."""
    now = utc_now()
    users = [f"cap-{uuid.uuid4().hex[:16]}" for _ in range(carts)]
    work = [[(user, _reservation(user, now)) for _ in range(SEATS_PER_CART)] for user in users]
    with psycopg.connect(database_url) as connection:
        _copy(connection, "reservations", _RESERVATION_COLUMNS, [_reservation_row(r) for cart in work for _, r in cart])
        connection.commit()
        _analyze(connection)
    return work


def orders_of(database_url: str, count: int, state: str, seats: int) -> list[tuple[str, uuid.UUID]]:
    """Orders of `seats` live reserved seats each, in `state`, as (owner, order id)."""
    now = utc_now()
    made: list[tuple[str, uuid.UUID]] = []
    reservations, order_rows, items = [], [], []
    for _ in range(count):
        user, order_id = f"cap-{uuid.uuid4().hex[:16]}", uuid.uuid4()
        order_rows.append((order_id, user, state, PRICE * seats, seats, now, now))
        for _ in range(seats):
            r = _reservation(user, now)
            reservations.append(_reservation_row(r))
            items.append((uuid.uuid4(), order_id, True, r.seat_id, PRICE, r.id, now))
        made.append((user, order_id))
    with psycopg.connect(database_url) as connection:
        _copy(connection, "reservations", _RESERVATION_COLUMNS, reservations)
        _copy(connection, "orders", _ORDER_COLUMNS, order_rows)
        _copy(connection, "order_items", _ITEM_COLUMNS, items)
        connection.commit()
        _analyze(connection)
    return made


# ---------------------------------------------------------------- one statement, as the service sends it


def _add_to_cart(connection: psycopg.Connection[Any], work: tuple[str, Reservation]) -> bool:
    user, reservation = work
    guarded = orders.add_item(
        connection, caller=Caller(user_id=user), reservation=reservation, price=PRICE, max_seats=MAX_SEATS,
        max_seats_per_event=0, order_id=uuid.uuid4(), item_id=uuid.uuid4(), now=utc_now(), verify_prices=False,
    )  # fmt: skip
    return guarded.guards.refusal() is None


def _checkout(connection: psycopg.Connection[Any], work: tuple[str, uuid.UUID]) -> bool:
    user, order_id = work
    guarded = orders.checkout(connection, caller=Caller(user_id=user), order_id=order_id, now=utc_now())
    return guarded.guards.refusal() is None


def _get_order(connection: psycopg.Connection[Any], work: tuple[str, uuid.UUID]) -> bool:
    return orders.find(connection, work[1]) is not None


def _lifecycle_batch(connection: psycopg.Connection[Any], work: list[tuple[str, uuid.UUID]]) -> bool:
    """payment-succeeded for a batch of pending orders: ordering.usecases.apply_lifecycle's
    transaction (claim, lock and read; the fold; write and commit), two round trips."""
    topic, now = "payment-succeeded", utc_now()
    batch = [
        Consumed(payment_id, PaymentSucceeded(payment_id, order_id, PRICE, now),
                 Delivery(topic, 0, offset, None, None))
        for offset, (_, order_id) in enumerate(work)
        for payment_id in [f"pay-{uuid.uuid4().hex}"]
    ]  # fmt: skip
    with batch_transaction(connection) as transaction:
        outcome = fold(topic, batch, transaction.claim_lock_and_read(topic, batch))
        dead_letters = [DeadLetter(item.source, reason) for item, reason in outcome.refused]
        transaction.write_and_commit(outcome, dead_letters, now)
    return outcome.applied == len(batch) and not outcome.conflicts


_RUNS: dict[str, Callable[[psycopg.Connection[Any], Any], bool]] = {
    "add-to-cart": _add_to_cart,
    "checkout": _checkout,
    "get-order": _get_order,
    "lifecycle batch": _lifecycle_batch,
}


# ---------------------------------------------------------------- the clients


def _client(
    *,
    statement: str,
    work: list[Any],
    cycle: bool,
    database_url: str,
    seconds: float,
    ready: Any,
    start: Any,
    results: Any,
) -> None:
    """One client process: its own connection (the service's settings: autocommit, no prepared
    statements, as through RDS Proxy), one statement at a time until the time is up."""
    try:
        run = _RUNS[statement]
        connection = psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
        run(connection, work[0])  # the connection's first statement, not measured
        # the server process of this connection (PostgreSQL forks one per connection): its CPU
        backend = psutil.Process(connection.info.backend_pid)
        ready.put(True)
        start.wait()
        latencies: list[float] = []
        refused, position = 0, 1
        began, began_cpu, began_server = time.perf_counter(), time.process_time(), _cpu_seconds(backend)
        while time.perf_counter() - began < seconds and (cycle or position < len(work)):
            item = work[position % len(work)]
            position += 1
            sent = time.perf_counter()
            if not run(connection, item):
                refused += 1
            latencies.append((time.perf_counter() - sent) * 1000)
        elapsed = time.perf_counter() - began
        exhausted = not cycle and position >= len(work) and elapsed < seconds
        server_cpu = _cpu_seconds(backend) - began_server
        results.put((latencies, refused, exhausted, elapsed, time.process_time() - began_cpu, server_cpu))
        connection.close()
    except BaseException as exc:  # reported to the parent, which fails the run
        results.put(exc)
    finally:
        results.close()
        results.join_thread()
        # never the parent's exit handlers, which would close connections the fork inherited
        os._exit(0)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _busy_seconds(before: Any, after: Any) -> float:
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
    return float(sum(after) - sum(before) - idle)


def _level(statement: str, shares: list[list[Any]], cycle: bool, seconds: float, database_url: str) -> Level:
    """One client per share of the work, all started at once."""
    # fork: the clients start at once with the parent's imports and their share of the work
    context = multiprocessing.get_context("fork")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    connections = len(shares)
    clients = [
        context.Process(
            target=_client,
            kwargs={
                "statement": statement,
                "work": share,
                "cycle": cycle,
                "database_url": database_url,
                "seconds": seconds,
                "ready": ready,
                "start": start,
                "results": results,
            },
            daemon=True,
        )
        for share in shares
    ]
    for client in clients:
        client.start()
    for _ in clients:
        ready.get(timeout=60)
    before = psutil.cpu_times()
    start.set()
    answers = [results.get(timeout=seconds + 60) for _ in clients]
    after = psutil.cpu_times()
    for client in clients:
        client.join(timeout=10)
    failures = [answer for answer in answers if isinstance(answer, BaseException)]
    if failures:
        raise RuntimeError(f"{statement} × {connections}: a client failed") from failures[0]
    elapsed = max(answer[3] for answer in answers)
    return Level(
        statement=statement,
        connections=connections,
        seconds=elapsed,
        count=sum(len(answer[0]) for answer in answers),
        refused=sum(answer[1] for answer in answers),
        exhausted=any(answer[2] for answer in answers),
        latencies_ms=[latency for answer in answers for latency in answer[0]],
        client_cpu_s=sum(answer[4] for answer in answers),
        server_cpu_s=sum(answer[5] for answer in answers),
        machine_busy_s=_busy_seconds(before, after),
    )


def run(database_url: str, levels: Sequence[int], seconds: float, lifecycle_batch: int) -> dict[str, Any]:
    """Each statement at each level of concurrency: statements per second, p50/p99, CPU."""
    results: dict[str, Any] = {}
    read_pool = orders_of(database_url, READ_POOL, "pending", SEATS_PER_CART)
    for statement, guess in FIRST_GUESS.items():
        records = lifecycle_batch if statement == "lifecycle batch" else 1
        best, by_level = guess, {}
        for connections in levels:
            # rows for the fastest rate yet, doubled: a level rarely doubles the one before on 2 cores
            needed = int(best * 2.5 * seconds) + 4 * connections
            print(f"  {statement} × {connections}…", file=sys.stderr)
            work: list[Any]
            shares: list[list[Any]]
            if statement == "add-to-cart":
                carts = reservations_to_add(database_url, needed // SEATS_PER_CART + connections)
                # each client takes whole customers, their seats in order
                shares = [[seat for cart in carts[n::connections] for seat in cart] for n in range(connections)]
            else:
                if statement == "checkout":
                    work = orders_of(database_url, needed, "draft", SEATS_PER_CART)
                elif statement == "get-order":
                    work = read_pool
                else:  # a payment reads and writes the order, never its seats: one seat each
                    pending = orders_of(database_url, needed * records, "pending", 1)
                    work = [pending[n : n + records] for n in range(0, len(pending), records)]
                shares = [work[n::connections] for n in range(connections)]
            level = _level(statement, shares, statement == "get-order", seconds, database_url)
            figures = level.figures(records)
            best = max(best, figures["statements_per_s"])
            by_level[str(connections)] = figures
            print(
                f"    {figures['statements_per_s']:9.0f}/s"
                f"  p50 {figures['p50_ms']:.2f} ms  p99 {figures['p99_ms']:.2f} ms"
                f"  CPU: server {figures['server_cpu_pct']:.0f} %, clients {figures['client_cpu_pct']:.0f} %,"
                f" machine {figures['machine_cpu_busy_pct']:.0f} %"
                f"{'  ROWS RAN OUT' if level.exhausted else ''}",
                file=sys.stderr,
            )
        results[statement] = {"records_per_statement": records, "levels": by_level}
    return results
