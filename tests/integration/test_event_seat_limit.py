"""The per-customer per-event seat limit: the seats of one event a customer holds across their
live orders, counted by the database, however many of their adds arrive at once.

The event of a seat is the one the copy of the Catalog's prices names, so the limit applies where
prices are verified: here the copy is written as the scheduled refresh writes it, and the
Catalog's address is a port nobody listens on (a request that had to ask it would fail)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from ordering.domain.pricing import SeatPrice
from ordering.store import seat_prices
from ordering_local.environments import Environments
from ordering_local.template import load
from tests.support import ROOT, USER, Service, assert_refused, bearer, reservation_created, wait_until

LIMIT = 4
NOBODY_LISTENS = "http://127.0.0.1:9"


def _event(database_url: str, seats: int) -> list[str]:
    """An event of `seats` seats at 50.00 in the copy of the Catalog's prices; their ids."""
    event_id = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(seats)]
    with psycopg.connect(database_url, autocommit=True) as connection:
        seat_prices.keep_seatmap(
            connection,
            event_id,
            "On-sale",
            [SeatPrice(seat, event_id, "A", Decimal("50.00")) for seat in ids],
            dt.datetime.now(dt.UTC),
        )
    return [str(seat) for seat in ids]


def _reserved(service: Service, seats: list[str], customer: str = USER) -> list[dict[str, Any]]:
    reservations = [reservation_created(customer=customer, seat=uuid.UUID(seat)) for seat in seats]
    service.publish("reservation-created", *reservations)
    return reservations


def _live_seats_of(database_url: str, seats: list[str], owner: str = USER) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM bc_ordering.order_items i JOIN bc_ordering.orders o ON o.id = i.order_id"
            " WHERE o.owner_key = %s AND o.live AND i.seat_id = ANY(%s::uuid[])",
            (f"user:{owner}", seats),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def limited(configure: Callable[..., None]) -> None:
    configure(CATALOG_URL=NOBODY_LISTENS, MAX_SEATS_PER_EVENT=str(LIMIT))


@pytest.fixture
def limited_service(stores: dict[str, str]) -> Iterator[Service]:
    """Add-to-cart in twenty execution environments of their own, prices verified and the limit
    set, for adds that really run at the same time."""
    functions = [function for function in load(ROOT) if function.name == "AddToCartFunction"]
    # the adds wait on locks until all twenty are under way: bounded by the function's timeout, not
    # by the 3 s request budget
    environment = {
        **os.environ,
        "CATALOG_URL": NOBODY_LISTENS,
        "MAX_SEATS_PER_EVENT": str(LIMIT),
        "API_REQUEST_BUDGET_S": "60",
    }
    with Environments(functions, 20, environment) as environments:
        environments.start_all()
        limited = Service(functions, environments.invoke)
        # each environment warm, its connection open: a reservation nobody made, refused
        unknown = reservation_created(customer="nobody")
        with ThreadPoolExecutor(max_workers=20) as pool:
            warm = list(pool.map(lambda _: limited.add_to_cart(unknown, who="nobody"), range(20)))
        assert {reply.error for reply in warm} == {"Reservation not found"}
        yield limited


def test_twenty_parallel_adds_of_one_customer_never_exceed_the_event_limit(
    service: Service, limited: None, limited_service: Service, database_url: str
) -> None:
    # Given a customer with a checked-out order holding two seats of the event, a cart holding a
    # seat of another event, and twenty more seats of the event reserved
    seats, elsewhere = _event(database_url, 22), _event(database_url, 1)
    reservations = _reserved(service, seats)
    checked_out = [service.add_to_cart(reservation) for reservation in reservations[:2]][-1]
    assert service.checkout(checked_out.body["id"]).status == 200
    cart = service.add_to_cart(_reserved(service, elsewhere)[0]).body["id"]

    # When the twenty are added at the same moment, each in an execution environment of its own,
    # and all twenty are under way (waiting) before any of them commits: the cart's row is held
    # by another transaction until then
    with ThreadPoolExecutor(max_workers=20) as pool, psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM bc_ordering.orders WHERE id = %s FOR UPDATE", (cart,))
        adds = [pool.submit(limited_service.add_to_cart, r) for r in reservations[2:]]
        with psycopg.connect(database_url, autocommit=True) as watcher:
            wait_until(lambda: _waiting_on_locks(watcher) >= 20, seconds=30, what="the twenty adds waiting on locks")
        holder.rollback()
        replies = [add.result() for add in adds]

    # Then two fit, the other eighteen are refused in the contract's words, and the customer
    # holds exactly the limit
    unexpected = [(reply.status, reply.body) for reply in replies if reply.status != 409]
    assert sorted(reply.status for reply in replies) == [200] * 2 + [409] * 18, unexpected
    refusals = {reply.error for reply in replies if reply.status == 409}
    assert refusals == {f"Customer cannot hold more than {LIMIT} seats of this event"}
    assert _live_seats_of(database_url, seats) == LIMIT


def _waiting_on_locks(watcher: psycopg.Connection[Any]) -> int:
    row = watcher.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return int(row[0]) if row else 0


def test_the_limit_counts_the_customers_live_orders_of_the_event_only(
    service: Service, limited: None, database_url: str
) -> None:
    # Given a customer who cancelled an order of three seats of the event, holds three seats of
    # another event in the cart, and three of the event in a checked-out order
    seats, other_seats = _event(database_url, 10), _event(database_url, 3)
    mine = _reserved(service, seats)
    cancelled = [service.add_to_cart(reservation) for reservation in mine[:3]][-1]
    assert service.patch(f"/orders/{cancelled.body['id']}/cancel", {}, bearer()).status == 200
    pending = [service.add_to_cart(reservation) for reservation in mine[3:6]][-1]
    assert service.checkout(pending.body["id"]).status == 200
    for reservation in _reserved(service, other_seats):
        assert service.add_to_cart(reservation).status == 200

    # When they add one more seat of the event, then another
    fourth = service.add_to_cart(mine[6])

    # Then the fourth is theirs (the cancelled seats and the other event's do not count), and
    # the fifth is refused and changes nothing
    assert fourth.status == 200, fourth.body
    assert_refused(
        database_url,
        lambda: service.add_to_cart(mine[7]),
        409,
        f"Customer cannot hold more than {LIMIT} seats of this event",
    )
    assert _live_seats_of(database_url, seats) == LIMIT


def test_another_customer_is_not_held_back_by_a_customers_limit(
    service: Service, limited: None, database_url: str
) -> None:
    # Given a customer at the limit for the event
    seats = _event(database_url, LIMIT + 1)
    for reservation in _reserved(service, seats[:LIMIT]):
        assert service.add_to_cart(reservation).status == 200

    # When another customer adds a seat of the same event
    theirs = _reserved(service, seats[LIMIT:], customer="another-customer")[0]
    reply = service.add_to_cart(theirs, who="another-customer")

    # Then it is theirs
    assert reply.status == 200, reply.body
    assert _live_seats_of(database_url, seats, owner="another-customer") == 1


def test_without_verified_prices_the_event_of_a_seat_is_unknown_and_no_limit_applies(
    service: Service, configure: Callable[..., None], database_url: str
) -> None:
    # Given the limit set, but no Catalog (the service does not know which event a seat is of)
    configure(MAX_SEATS_PER_EVENT=str(LIMIT))
    seats = _event(database_url, LIMIT + 1)

    # When a customer adds one seat more than the limit
    replies = [service.add_to_cart(reservation) for reservation in _reserved(service, seats)]

    # Then every add succeeds: the per-order limit alone holds
    assert [reply.status for reply in replies] == [200] * (LIMIT + 1)


def test_adds_with_idempotency_keys_count_and_replay_within_the_limit(
    service: Service, limited: None, database_url: str
) -> None:
    # Given a customer one seat under the limit
    seats = _event(database_url, LIMIT + 1)
    reservations = _reserved(service, seats)
    for reservation in reservations[: LIMIT - 1]:
        assert service.add_to_cart(reservation).status == 200

    # When they add the last seat with an Idempotency-Key, send it again, then add one more
    keyed = {**bearer(), "Idempotency-Key": "last-seat"}
    first = service.add_to_cart(reservations[LIMIT - 1], headers=keyed)
    again = service.add_to_cart(reservations[LIMIT - 1], headers=keyed)
    over = service.add_to_cart(reservations[LIMIT], headers={**bearer(), "Idempotency-Key": "one-more"})

    # Then the seat is added once and the retry answered as it was; the one more is refused
    assert (first.status, again.status, again.headers.get("Idempotent-Replayed")) == (200, 200, "true")
    assert again.body == first.body
    assert (over.status, over.error) == (409, f"Customer cannot hold more than {LIMIT} seats of this event")
    assert _live_seats_of(database_url, seats) == LIMIT
