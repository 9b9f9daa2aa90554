"""What a request costs in round trips to PostgreSQL, counted by a proxy in front of it (the
bench's): the figures the design promises, held as a count, never as a time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from bench.proxy import DelayProxy
from bench.setup import Stores
from ordering.domain.identity import secret_hash
from tests.support import Reply, Service, bearer, reservation_created

ONE_WAY_S = 0.002  # long enough for the proxy to tell one round trip from the next


@pytest.fixture
def counted(stores: dict[str, str], configure: Callable[..., None]) -> Iterator[DelayProxy]:
    """The service's PostgreSQL reached through a proxy that counts round trips."""
    direct = Stores(stores["DATABASE_URL"], stores["REDIS_URL"])
    with DelayProxy(direct.postgres_upstream(), ONE_WAY_S) as proxy:
        configure(DATABASE_URL=direct.through(proxy.port, 0).database_url)
        yield proxy


def _trips(proxy: DelayProxy, request: Callable[[], Any]) -> int:
    before = proxy.round_trips
    request()
    return proxy.round_trips - before


def _known(database_url: str, user_id: str) -> bool:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM bc_ordering.known_users WHERE user_hash = %s", (secret_hash(user_id),)
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize("first_request", ["GET /cart", "POST /cart/add"])
def test_recording_a_signed_in_user_costs_no_round_trip(
    service: Service, counted: DelayProxy, database_url: str, first_request: str
) -> None:
    # Given a warm execution environment (its connection made by someone else's request), and a
    # seat reserved (and cached) for a user the service has never seen
    assert service.get("/cart", bearer("user-warm")).status == 404
    reservation = reservation_created(customer="user-new")
    service.publish("reservation-created", reservation)

    # When the user's first signed-in request is a read of their cart, or adding the seat
    def read() -> Any:
        return service.get("/cart", bearer("user-new"))

    def add() -> Any:
        return service.add_to_cart(reservation, who="user-new")

    first = _trips(counted, read if first_request == "GET /cart" else add)
    later = [_trips(counted, request) for request in ((add,) if first_request == "GET /cart" else (read, read))]

    # Then each costs the one round trip it always did, and the user is recorded by the first
    assert [first, *later] == [1] * (1 + len(later))
    assert _known(database_url, "user-new")


def test_add_to_cart_with_prices_verified_costs_one_round_trip_when_the_price_is_known(
    service: Service, counted: DelayProxy, database_url: str, configure: Callable[..., None]
) -> None:
    # Given prices verified against a Catalog nobody serves (a request that asked it would fail),
    # and a seat whose price the copy holds, reserved and cached
    configure(CATALOG_URL="http://127.0.0.1:9")
    reservation = reservation_created(customer="user-priced")
    service.publish("reservation-created", reservation)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO bc_ordering.seat_prices (seat_id, event_id, section_code, price, refreshed_at)"
            " VALUES (%s, gen_random_uuid(), 'VIP', 50.00, now())",
            (reservation["seatId"],),
        )
    assert service.get("/cart", bearer("user-warm")).status == 404  # the new settings' connection
    # When the customer adds it at its price
    reply: list[Any] = []
    trips = _trips(counted, lambda: reply.append(service.add_to_cart(reservation, who="user-priced")))
    # Then it is in the cart, for one round trip, the price read with the reservation
    assert reply[0].status == 200, reply[0].body
    assert trips == 1


def test_checkout_cancel_and_get_order_cost_one_round_trip_refused_or_not(
    service: Service, counted: DelayProxy
) -> None:
    # Given a cart, and a warm execution environment
    cart = service.cart()
    assert service.get("/cart", bearer()).status == 200
    path = f"/orders/{cart['id']}"
    # When it is checked out, by another and by its owner, then again; read; cancelled by another,
    # by its owner, then again
    calls: list[tuple[Callable[[], Reply], int]] = [
        (lambda: service.checkout(cart["id"], who="someone-else"), 401),
        (lambda: service.checkout(cart["id"]), 200),
        (lambda: service.checkout(cart["id"]), 400),
        (lambda: service.get(path, bearer()), 200),
        (lambda: service.patch(f"{path}/cancel", None, bearer("someone-else")), 404),
        (lambda: service.patch(f"{path}/cancel", None, bearer()), 200),
        (lambda: service.patch(f"{path}/cancel", None, bearer()), 200),
    ]
    for call, status in calls:
        before = counted.round_trips
        reply = call()
        # Then each is answered as the contract says, in one round trip: a refusal is told by the
        # statement that refused
        assert (reply.status, counted.round_trips - before) == (status, 1), reply.body


def test_a_seat_in_another_order_is_told_by_the_statement_that_tried_to_take_it(
    service: Service, counted: DelayProxy
) -> None:
    # Given a seat in user-123's cart, another customer's reservation of it (a stale Inventory's),
    # cached, and a warm execution environment
    held = service.cart()["items"][0]["seatId"]
    other = reservation_created(customer="user-other", seat=uuid.UUID(held))
    service.publish("reservation-created", other)
    assert service.get("/cart", bearer("user-warm")).status == 404
    free = str(uuid.uuid4())

    def waitlist(seat: str) -> Reply:
        body = {"seatId": seat, "price": 10, "guestToken": "waiting@example.com", "concertEventId": None}
        return service.post("/orders/waitlist", body, api="internal")

    # When the other customer adds it, and the Waitlist service places an order for it, then one
    # for a free seat, twice
    calls: list[tuple[Callable[[], Reply], int]] = [
        (lambda: service.add_to_cart(other, who="user-other"), 409),
        (lambda: waitlist(held), 409),
        (lambda: waitlist(free), 201),
        (lambda: waitlist(free), 201),
    ]
    for call, status in calls:
        before = counted.round_trips
        reply = call()
        # Then each is answered in the one round trip of the statement that tried: the seat's
        # holder is in its answer, and so is the order the same request placed before
        assert (reply.status, counted.round_trips - before) == (status, 1), reply.body
