"""Seat prices from the platform's Catalog: a stub of the Catalog over real HTTP (its shapes:
`GET /events`, `GET /events/{id}/seatmap`), the service's copy in real PostgreSQL, and what a
client sees when it names a price."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from ordering_local.environments import Environments
from ordering_local.events import api_gateway_event
from ordering_local.invoke import invoke
from tests.support import USER, Service, assert_refused, bearer, reservation_created


class Catalog:
    """The Catalog as the platform runs it, shrunk to what the service reads: events, each with a
    seat map of seats and their prices. It can be stopped for real, or made to hang."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.hits: Counter[str] = Counter()
        self.hang_s = 0.0
        self.failing: set[str] = set()  # events whose seat map answers 500
        catalog = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                catalog.hits[self.path] += 1
                if catalog.hang_s:
                    time.sleep(catalog.hang_s)
                parts = self.path.strip("/").split("/")
                if parts == ["events"]:
                    listed = [{"id": event_id, "name": e["eventName"]} for event_id, e in catalog.events.items()]
                    self._answer(200, listed)
                elif len(parts) == 3 and parts[1] in catalog.failing:
                    self._answer(500, {"error": "internal"})
                elif len(parts) == 3 and parts[0] == "events" and parts[2] == "seatmap" and parts[1] in catalog.events:
                    self._answer(200, {"eventId": parts[1], **catalog.events[parts[1]]})
                else:
                    self._answer(404, {"error": "not found"})

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_event(self, *seats: tuple[str, str], base_price: str = "40.00") -> str:
        """An event with these (seat id, price) seats; a price of "" leaves the seat's out."""
        event_id = str(uuid.uuid4())
        self.events[event_id] = {
            "eventName": "Concert",
            "venue": "Arena",
            "basePrice": Decimal(base_price),
            "seats": [
                {"id": seat, "sectionCode": "VIP", "rowNumber": "A", "seatNumber": str(n), "status": "available"}
                | ({"price": Decimal(price)} if price else {})
                for n, (seat, price) in enumerate(seats, 1)
            ],
        }
        return event_id

    def add_seat(self, event_id: str, seat: str, price: str) -> None:
        self.events[event_id]["seats"].append({"id": seat, "sectionCode": "B", "price": Decimal(price)})

    def stop(self) -> None:
        """The Catalog really gone: its port refuses connections."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def catalog(configure: Callable[..., None]) -> Iterator[Catalog]:
    stub = Catalog()
    configure(CATALOG_URL=stub.url, CATALOG_TIMEOUT_S="0.5", CATALOG_MISS_BUDGET_S="2")
    yield stub
    if stub.thread.is_alive():
        stub.stop()


def _sync(service: Service) -> dict[str, Any]:
    """The scheduled refresh of the copy, as EventBridge Scheduler invokes it."""
    function = next(f for f in service.functions if f.name == "CatalogSyncFunction")
    result: dict[str, Any] = invoke(function, {"source": "aws.scheduler", "detail-type": "Scheduled Event"})
    return result


def _reserved(service: Service, seat: str, customer: str = USER, base_price: Any = 0) -> dict[str, Any]:
    reservation = reservation_created(customer=customer, seat=uuid.UUID(seat), base_price=base_price)
    service.publish("reservation-created", reservation)
    return reservation


def _seat() -> str:
    return str(uuid.uuid4())


def test_the_schedule_keeps_a_copy_of_every_seats_price(service: Service, catalog: Catalog, database_url: str) -> None:
    # Given two events in the Catalog, one seat priced by its event's base price
    vip, plain, cheap = _seat(), _seat(), _seat()
    first = catalog.add_event((vip, "120.00"), (plain, ""), base_price="45.50")
    catalog.add_event((cheap, "15.00"))
    # When the scheduled refresh runs
    result = _sync(service)
    # Then every seat is kept with its price, section and event, and readiness says prices are verified
    assert result == {"catalog": "refreshed", "events": 2, "seats": 3}
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT seat_id::text, event_id::text, section_code, price FROM bc_ordering.seat_prices"
        ).fetchall()
    assert sorted(rows) == sorted(
        [
            (vip, first, "VIP", Decimal("120.00")),
            (plain, first, "VIP", Decimal("45.50")),
            (cheap, rows[[r[0] for r in rows].index(cheap)][1], "VIP", Decimal("15.00")),
        ]
    )
    ready = service.get("/health/ready", {})
    assert (ready.status, ready.body["checks"]["prices"], ready.body["checks"]["catalog"]) == (
        200,
        "verified",
        "refreshed",
    )


def test_the_seats_price_is_taken_and_another_is_refused(service: Service, catalog: Catalog, database_url: str) -> None:
    # Given a VIP seat at 120.00 in the Catalog, reserved by Inventory with its basePrice of 0
    seat = _seat()
    catalog.add_event((seat, "120.00"))
    _sync(service)
    reservation = _reserved(service, seat)
    # When the customer names a price of their own, Then it is refused and nothing is written
    assert_refused(
        database_url,
        lambda: service.add_to_cart(reservation, price="0.01"),
        400,
        "Price does not match the reserved seat price",
    )
    # When they name the seat's price, Then it is in the cart at that price
    reply = service.add_to_cart(reservation, price="120.00")
    assert reply.status == 200, reply.body
    assert (reply.body["totalAmount"], reply.body["items"][0]["price"]) == (Decimal("120.00"), Decimal("120.00"))


def test_a_seat_added_to_the_catalog_after_the_refresh_is_priced_after_one_refresh(
    service: Service, catalog: Catalog
) -> None:
    # Given a copy refreshed, then a seat added to an event of the Catalog, and a new event
    event = catalog.add_event((_seat(), "50.00"))
    _sync(service)
    added, later = _seat(), _seat()
    catalog.add_seat(event, added, "75.00")
    catalog.add_event((later, "33.00"))
    # When customers add them at their prices, Then each is in the cart, after one refresh of the
    # copy at the most (the first's may have read the second's event too)
    for seat, price, total in ((added, "75.00", "75.00"), (later, "33.00", "108.00")):
        listed = catalog.hits["/events"]
        reply = service.add_to_cart(_reserved(service, seat), price=price)
        assert (reply.status, reply.body["totalAmount"]) == (200, Decimal(total)), reply.body
        assert catalog.hits["/events"] - listed <= 1


def test_a_seat_the_catalog_does_not_know_is_a_409_after_a_refresh(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given a refreshed copy, and a seat Inventory reserved that the Catalog does not list
    catalog.add_event((_seat(), "50.00"))
    _sync(service)
    reservation = _reserved(service, _seat())
    listed = catalog.hits["/events"]
    # When it is added, Then its price is unknown, once the Catalog was asked again, and nothing is written
    assert_refused(database_url, lambda: service.add_to_cart(reservation), 409, "Seat price is unknown")
    assert catalog.hits["/events"] - listed == 1


def test_with_the_catalog_down_a_known_seat_is_sold_and_an_unknown_one_is_a_503(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given a copy that knows one seat, then the Catalog stopped
    known = _seat()
    catalog.add_event((known, "60.00"))
    _sync(service)
    catalog.stop()
    # When a customer adds the known seat, Then it is sold at its price
    reply = service.add_to_cart(_reserved(service, known), price="60.00")
    assert reply.status == 200, reply.body
    # When another adds a seat the copy does not know, Then 503, and nothing is written
    unknown = _reserved(service, _seat(), customer="user-456")
    assert_refused(database_url, lambda: service.add_to_cart(unknown, who="user-456"), 503, "Service unavailable")
    # and the scheduled refresh says the Catalog was not read, keeping the copy as it was
    assert _sync(service) == {"catalog": "unavailable"}


def test_a_seat_map_the_catalog_fails_to_give_makes_an_unknown_seat_a_503_not_a_409(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given a Catalog whose one event's seat map answers 500 (after its retries too)
    catalog.failing.add(catalog.add_event((_seat(), "50.00")))
    reservation = _reserved(service, _seat())
    # When a seat the copy does not know is added, Then the Catalog could not tell: 503, nothing
    # written (the seat may be on that map, so it is not "unknown")
    assert_refused(database_url, lambda: service.add_to_cart(reservation), 503, "Service unavailable")


def test_a_catalog_that_hangs_costs_a_request_its_budget_not_its_timeout(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given a Catalog that answers nothing for 30 s, and a seat the copy does not know
    catalog.hang_s = 30
    reservation = _reserved(service, _seat())
    # When it is added, Then the request ends in 503 within its miss budget, long before the
    # function's timeout would make API Gateway answer 502, and nothing is written
    assert_refused(database_url, lambda: service.add_to_cart(reservation), 503, "Service unavailable")


def test_inventorys_price_wins_where_it_sends_one(service: Service, catalog: Catalog) -> None:
    # Given a seat the Catalog sells at 80.00, reserved by an Inventory that sent 85.00
    seat = _seat()
    catalog.add_event((seat, "80.00"))
    _sync(service)
    reservation = _reserved(service, seat, base_price="85.00")
    # When it is added at Inventory's price, Then it is taken (the reservation's own price first)
    reply = service.add_to_cart(reservation, price="85.00")
    assert reply.status == 200, reply.body


def test_a_waitlist_order_sent_at_zero_takes_the_catalogs_price(service: Service, catalog: Catalog) -> None:
    # Given a seat the Catalog sells at 95.00, added after the last refresh, and one it does not know
    seat, unknown = _seat(), _seat()
    catalog.add_event((_seat(), "10.00"))
    _sync(service)
    catalog.add_event((seat, "95.00"))

    def place(seat_id: str) -> Any:
        body = {"seatId": seat_id, "price": 0, "guestToken": "waiting@example.com", "concertEventId": None}
        placed = service.post("/orders/waitlist", body, api="internal")
        assert placed.status == 201, placed.body
        return service.get(f"/Orders/{placed.body['orderId']}", {}, api="internal").body

    # When the Waitlist service places orders for them at price 0, as it does
    priced, free = place(seat), place(unknown)
    # Then the first is at the Catalog's price, the one the Catalog does not know stays free
    assert (priced["totalAmount"], priced["items"][0]["price"]) == (Decimal("95.00"), Decimal("95.00"))
    assert free["totalAmount"] == Decimal("0.00")


def test_a_crowd_missing_a_new_event_makes_one_refresh(
    service: Service, catalog: Catalog, stores: dict[str, str]
) -> None:
    # Given an event published after the last refresh, its seats reserved by eight customers
    seats = [_seat() for _ in range(8)]
    catalog.add_event(*((seat, "70.00") for seat in seats))
    reservations = [_reserved(service, seat, customer=f"fan-{n}") for n, seat in enumerate(seats)]
    catalog.hang_s = 0.3  # a Catalog that takes its time, as a large seat map does
    listed = catalog.hits["/events"]
    # When they all add their seats at once, from eight execution environments
    function = next(f for f in service.functions if f.name == "AddToCartFunction")
    environment = {**stores, "CATALOG_URL": catalog.url, "CATALOG_TIMEOUT_S": "2", "CATALOG_MISS_BUDGET_S": "5"}
    with Environments([function], 8, environment) as environments:
        environments.start_all()

        def add(n: int) -> int:
            r = reservations[n]
            body = {"reservationId": r["reservationId"], "seatId": r["seatId"], "price": 70.00}
            headers = {"Content-Type": "application/json", **bearer(f"fan-{n}")}
            event = api_gateway_event("POST", "/cart/add", headers=headers, body=body)
            status: int = environments.invoke(function, event)["statusCode"]
            return status

        threads: list[threading.Thread] = []
        statuses: list[int] = []
        for n in range(8):
            threads.append(threading.Thread(target=lambda n=n: statuses.append(add(n))))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Then every seat is sold, and the Catalog was asked for its events once
    assert sorted(statuses) == [200] * 8
    assert catalog.hits["/events"] - listed == 1


def _lease_held_by_another(database_url: str, seconds: float) -> None:
    """Another request's refresh on a miss, under way for `seconds` more (it holds the lease)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE bc_ordering.catalog_refreshes SET leased_by = gen_random_uuid(),"
            " leased_until = now() + make_interval(secs => %s)",
            (seconds,),
        )


def test_a_request_waiting_on_a_refresh_that_did_not_bring_its_seat_refreshes_for_it(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given a seat of an event the copy does not hold, and another request's refresh under way
    # that ends without it (it stopped at its own seat)
    seat = _seat()
    catalog.add_event((seat, "44.00"))
    _lease_held_by_another(database_url, 0.5)
    # When the seat is added
    reply = service.add_to_cart(_reserved(service, seat), price="44.00")
    # Then the request took the lease in its turn and found the price: not a 409
    assert reply.status == 200, reply.body


def test_a_waitlist_seat_is_never_placed_free_because_the_catalog_could_not_tell(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given the Catalog down, and another request's refresh under way (which will fail as well)
    catalog.stop()
    _lease_held_by_another(database_url, 0.3)
    body = {"seatId": _seat(), "price": 0, "guestToken": "waiting@example.com", "concertEventId": None}
    # When the Waitlist service places an order at 0 for a seat the copy does not know, Then it is
    # told to retry (503), and no order is placed at 0
    assert_refused(
        database_url, lambda: service.post("/orders/waitlist", body, api="internal"), 503, "Service unavailable"
    )


def test_a_refresh_on_a_miss_is_kept_even_when_the_keyed_request_is_refused(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given a seat of an event the copy does not hold yet
    seat = _seat()
    catalog.add_event((seat, "90.00"))
    reservation = _reserved(service, seat)
    # When a customer adds it at another price, with an Idempotency-Key (its request's transaction)
    headers = {**bearer(), "Idempotency-Key": "key-price"}
    reply = service.add_to_cart(reservation, price="10.00", headers=headers)
    # Then the request is refused, but the seat map it read stays in the copy for the next one
    assert (reply.status, reply.error) == (400, "Price does not match the reserved seat price")
    with psycopg.connect(database_url) as connection:
        kept = connection.execute("SELECT price FROM bc_ordering.seat_prices WHERE seat_id = %s", (seat,)).fetchone()
    assert kept == (Decimal("90.00"),)


def test_catalog_text_no_column_can_hold_is_kept_as_it_can_be(
    service: Service, catalog: Catalog, database_url: str
) -> None:
    # Given an event whose name is too long and holds a NUL, and a seat whose section holds a NUL
    seat = _seat()
    event = catalog.add_event((seat, "25.00"))
    catalog.events[event]["eventName"] = "Gala\x00" + "x" * 500
    catalog.events[event]["seats"][0]["sectionCode"] = "V\x00IP"
    # When the copy is refreshed, Then it is complete, the texts cut and cleaned
    assert _sync(service) == {"catalog": "refreshed", "events": 1, "seats": 1}
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT e.event_name, p.section_code FROM bc_ordering.seat_prices p"
            " JOIN bc_ordering.catalog_events e USING (event_id)"
        ).fetchone()
    assert row == ("Gala" + "x" * 252, "VIP")


def test_a_seat_the_catalog_no_longer_lists_is_priced_no_more(service: Service, catalog: Catalog) -> None:
    # Given a seat in the copy, then taken off its event's seat map in the Catalog
    kept, dropped = _seat(), _seat()
    event = catalog.add_event((kept, "20.00"), (dropped, "20.00"))
    _sync(service)
    catalog.events[event]["seats"] = [s for s in catalog.events[event]["seats"] if s["id"] == kept]
    # When the copy is refreshed and the dropped seat is added
    _sync(service)
    reply = service.add_to_cart(_reserved(service, dropped), price="20.00")
    # Then its price is unknown
    assert (reply.status, reply.error) == (409, "Seat price is unknown")
