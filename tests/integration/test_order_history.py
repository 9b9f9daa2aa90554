"""GET /orders: the caller's orders, newest first, keyset-paginated."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from tests.support import Service, assert_refused, bearer, reservation_created


def _orders(service: Service, count: int, who: str = "user-123") -> list[str]:
    """`count` pending orders of `who`, oldest first."""
    made = []
    for _ in range(count):
        reservation = reservation_created(customer=who)
        service.publish("reservation-created", reservation)
        cart = service.add_to_cart(reservation, who=who).body
        assert service.checkout(cart["id"], who=who).status == 200
        made.append(cart["id"])
    return made


def _all_pages(service: Service, limit: int, headers: dict[str, str]) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        reply = service.get(f"/orders{query}", headers)
        assert reply.status == 200, reply.body
        pages.append([order["id"] for order in reply.body["items"]])
        cursor = reply.body["nextCursor"]
        if cursor is None:
            return pages


def test_every_order_comes_once_newest_first_a_page_at_a_time(service: Service) -> None:
    # Given 25 orders of the customer, and one of someone else
    made = _orders(service, 25)
    _orders(service, 1, who="someone-else")
    # When the customer reads their history 10 at a time
    pages = _all_pages(service, 10, bearer())
    # Then three pages hold their 25 orders, newest first, each once
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [order for page in pages for order in page] == list(reversed(made))


def test_orders_added_while_paging_never_repeat_or_hide_one(concurrent_service: Service) -> None:
    # Given 12 orders, and the customer adding more while they page through their history
    made = _orders(concurrent_service, 12)
    stop = threading.Event()

    def keep_ordering() -> None:
        while not stop.is_set():
            _orders(concurrent_service, 1)

    adder = threading.Thread(target=keep_ordering)
    adder.start()
    try:
        seen = [order for page in _all_pages(concurrent_service, 3, bearer()) for order in page]
    finally:
        stop.set()
        adder.join()
    # Then every order that existed is seen exactly once, and none twice
    assert len(seen) == len(set(seen))
    assert set(made) <= set(seen)


def test_bad_paging_is_a_400(service: Service, database_url: str) -> None:
    _orders(service, 2)
    cases: list[tuple[str, str]] = [
        ("?limit=0", "Field 'limit' must be at least 1"),
        ("?limit=101", "Field 'limit' must be at most 100"),
        ("?limit=ten", "Field 'limit' must be an integer"),
        ("?cursor=not-a-cursor", "Field 'cursor' is invalid"),
        ("?cursor=MjAyNi0wMi0yNFQxNToxNTowMHxub3QtYS11dWlk", "Field 'cursor' is invalid"),  # a date, then junk
    ]
    for query, message in cases:
        assert_refused(database_url, partial(service.get, f"/orders{query}", bearer()), 400, message)


def test_a_customer_with_no_orders_gets_an_empty_page(service: Service) -> None:
    reply: Any = service.get("/orders", {"X-Guest-Token": "guest-with-nothing"})
    assert (reply.status, reply.body) == (200, {"items": [], "nextCursor": None})
    assert service.get("/orders", {}).error == "Either UserId or GuestToken must be provided"
