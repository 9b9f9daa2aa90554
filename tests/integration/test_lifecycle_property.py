"""Any interleaving, duplication and batching of one valid history ends where the history does
when delivered once, in causal order: same state, same paidAt, same conflicts. A payment that
failed and was retried is one such history: it ends paid whichever of its events comes first."""

from __future__ import annotations

import datetime as dt
from itertools import count, permutations
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordering_local.events import Message, message_key
from tests.support import (
    HISTORIES,
    Service,
    conflicts,
    order_row,
    payment_failed,
    payment_succeeded,
    reservation_created,
    reservation_expired,
    ticket_issued,
    utc_now,
)

_offsets = count(1_000)


class Twin:
    """One pending order and the events of its history, built the same way for every twin."""

    def __init__(self, service: Service, history: list[str], processed_at: dt.datetime) -> None:
        self.created = [reservation_created(), reservation_created(seat_number="VIP-A-13")]
        service.publish("reservation-created", *self.created, first_offset=next(_offsets))
        carts = [service.add_to_cart(reservation) for reservation in self.created]
        assert [cart.status for cart in carts] == [200, 200]
        reply = service.checkout(carts[-1].body["id"])
        assert reply.status == 200, reply.body
        self.order = reply.body
        self.events = [self._payload(step, processed_at) for step in history]

    def _payload(self, step: str, processed_at: dt.datetime) -> tuple[str, dict[str, Any]]:
        topic, _, variant = step.partition(":")
        topic, _, which = topic.partition("#")
        reservation = self.created[1 if which else 0]
        if topic == "payment-succeeded":
            amount = self.order["totalAmount"] - 1 if variant == "wrong-amount" else None
            return topic, payment_succeeded(self.order, amount=amount, processed_at=processed_at)
        if topic == "payment-failed":
            return topic, payment_failed(self.order)
        if topic == "ticket-issued":
            return topic, ticket_issued(self.order)
        return topic, reservation_expired(reservation)

    def outcome(self, database_url: str) -> tuple[Any, ...]:
        state, paid_at, _ = order_row(database_url, self.order["id"])
        return state, paid_at, conflicts(database_url, self.order["id"])


def _deliver(service: Service, deliveries: list[tuple[str, dict[str, Any]]], sizes: list[int]) -> None:
    """Deliver in this order, cutting runs of one topic into batches of the given sizes."""
    index, cut = 0, 0
    while index < len(deliveries):
        topic = deliveries[index][0]
        size = sizes[cut % len(sizes)]
        cut += 1
        batch: list[Message] = []
        while index < len(deliveries) and deliveries[index][0] == topic and len(batch) < size:
            payload = deliveries[index][1]
            batch.append(Message(topic, payload, key=message_key(topic, payload), offset=next(_offsets)))
            index += 1
        response = service.deliver(topic, batch)
        assert response == {"batchItemFailures": []}


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), history=st.sampled_from(sorted(HISTORIES)))
def test_any_interleaving_of_a_history_ends_as_its_causal_delivery(
    service: Service, stores: dict[str, str], data: st.DataObject, history: str
) -> None:
    database_url = stores["DATABASE_URL"]
    processed_at = utc_now().replace(microsecond=0)

    # Given two twin pending orders with the same history
    steps, end_state = HISTORIES[history]
    causal = Twin(service, steps, processed_at)
    shuffled = Twin(service, steps, processed_at)

    # When one twin's events arrive once, in causal order, one at a time
    _deliver(service, causal.events, [1])
    assert causal.outcome(database_url)[0] == end_state

    # and the other's arrive in any order, each one to three times, in batches of any size,
    # with its reservation-created events delivered again among them
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(shuffled.events), max_size=len(shuffled.events)))
    stream = [event for event, times in zip(shuffled.events, copies, strict=True) for _ in range(times)]
    stream += [("reservation-created", reservation) for reservation in shuffled.created]
    stream = data.draw(st.permutations(stream))
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    _deliver(service, stream, sizes)

    # Then both end in the same state, with the same paidAt and the same conflicts
    assert shuffled.outcome(database_url) == causal.outcome(database_url)


RETRIED = ["payment-failed", "payment-succeeded"]


def test_every_arrival_order_of_a_retried_payment_ends_paid(service: Service, stores: dict[str, str]) -> None:
    database_url = stores["DATABASE_URL"]
    processed_at = utc_now().replace(microsecond=0)
    arrivals = [*permutations(RETRIED), *permutations([*RETRIED, "ticket-issued"])]
    # Given, for every order of arrival, a pending order whose payment failed and was retried
    # with success (and, for some, ticketed)
    orders = {arrival: Twin(service, list(arrival), processed_at) for arrival in arrivals}
    # When each one's events arrive in that order, one batch each, then all again
    for order in orders.values():
        _deliver(service, order.events, [1])
        _deliver(service, order.events, [1])
    # Then every order is paid at the payment's time (fulfilled when ticketed), with no conflict
    ends = {arrival: order.outcome(database_url) for arrival, order in orders.items()}
    assert ends == {
        arrival: ("fulfilled" if "ticket-issued" in arrival else "paid", processed_at, []) for arrival in arrivals
    }
