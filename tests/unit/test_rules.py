"""The domain's rules, without I/O."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from ordering.domain import errors
from ordering.domain.identity import Caller, secret_hash
from ordering.domain.order import OrderState, can_transition, sources
from ordering.domain.reservation import Reservation
from ordering.domain.rules import (
    AddToCartGuards,
    CancelGuards,
    CheckoutGuards,
    Guards,
    ReservationGuards,
    check_price,
    check_reservation,
)

NOW = dt.datetime(2026, 2, 24, 15, 15, tzinfo=dt.UTC)
SEAT = uuid.uuid4()
ANA = Caller(user_id="ana")


def _reservation(**changes: object) -> Reservation:
    values: dict[str, object] = {
        "id": uuid.uuid4(), "seat_id": SEAT, "customer_hash": secret_hash("ana"), "seat_number": "A-1",
        "section": "A", "base_price": Decimal(0), "status": "active", "created_at": NOW,
        "expires_at": NOW + dt.timedelta(minutes=1),
    }  # fmt: skip
    values.update(changes)
    return Reservation(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (OrderState.DRAFT, OrderState.PENDING, True),
        (OrderState.PENDING, OrderState.PAID, True),
        (OrderState.PAID, OrderState.FULFILLED, True),
        (OrderState.DRAFT, OrderState.CANCELLED, True),
        (OrderState.PENDING, OrderState.CANCELLED, True),
        (OrderState.PAID, OrderState.CANCELLED, False),
        (OrderState.FULFILLED, OrderState.CANCELLED, False),
        (OrderState.CANCELLED, OrderState.DRAFT, False),
        (OrderState.CANCELLED, OrderState.PENDING, False),
        (OrderState.CANCELLED, OrderState.PAID, True),
        (OrderState.DRAFT, OrderState.PAID, False),
    ],
)
def test_the_lifecycle_allows_only_its_transitions(source: OrderState, target: OrderState, allowed: bool) -> None:
    assert can_transition(source, target) is allowed


def test_the_states_a_checkout_and_a_cancel_start_from_follow_from_the_transitions() -> None:
    # Given the lifecycle's transitions, Then a checkout starts from a draft, a cancel from a draft or pending order
    assert sources(OrderState.PENDING) == {OrderState.DRAFT}
    assert sources(OrderState.CANCELLED) == {OrderState.DRAFT, OrderState.PENDING}


def test_the_first_failing_reservation_check_wins() -> None:
    # Given a reservation that is for another seat, of another customer, and expired
    reservation = _reservation(seat_id=uuid.uuid4(), customer_hash=secret_hash("bob"), expires_at=NOW)
    # When it is checked, Then the seat mismatch is reported, as it comes first
    with pytest.raises(errors.ReservationForDifferentSeat):
        check_reservation(ANA, SEAT, reservation, NOW)


def test_expiry_is_decided_by_expires_at_not_by_a_constant() -> None:
    assert check_reservation(ANA, SEAT, _reservation(expires_at=NOW + dt.timedelta(seconds=1)), NOW)
    with pytest.raises(errors.ReservationExpired):
        check_reservation(ANA, SEAT, _reservation(expires_at=NOW), NOW)


def test_a_guest_token_owns_the_reservation_made_with_it() -> None:
    guest = Caller(guest_token="guest-abc")
    assert check_reservation(guest, SEAT, _reservation(customer_hash=secret_hash("guest-abc")), NOW)


@pytest.mark.parametrize(
    ("price", "error"),
    [(Decimal("0"), errors.PriceNotPositive), (Decimal("-1"), errors.PriceNotPositive),
     (Decimal("1.001"), errors.InvalidRequest)],
)  # fmt: skip
def test_prices_must_be_positive_with_two_places(price: Decimal, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_price(price, _reservation())


def _refused(guards: Guards) -> tuple[int, str] | None:
    refusal = guards.refusal()
    return (refusal.status, refusal.message) if refusal is not None else None


def test_add_to_cart_reports_the_first_guard_that_did_not_hold_in_the_contracts_order() -> None:
    # Given the guards of an add-to-cart, every one held
    reservation = ReservationGuards(
        found=True, for_the_seat=True, customers=True, not_expired=True, active=True, status="active"
    )
    guards = AddToCartGuards(
        reservation, price_known=True, price_matches=True, not_in_cart=True, in_no_other_order=True,
        under_event_limit=True, has_room=True, max_seats=10, max_seats_per_event=4,
    )  # fmt: skip
    assert _refused(guards) is None
    # When they fail one after another, from the last to the first
    # Then each time the first that failed is reported, whatever fails after it
    failures: list[tuple[dict[str, Any], tuple[int, str]]] = [
        ({"has_room": False}, (400, "Order cannot hold more than 10 seats")),
        ({"under_event_limit": False}, (409, "Customer cannot hold more than 4 seats of this event")),
        ({"in_no_other_order": False}, (409, "Seat is already in another order")),
        ({"not_in_cart": False}, (400, "Seat is already in the cart")),
        ({"price_matches": False}, (400, "Price does not match the reserved seat price")),
        ({"price_known": False}, (409, "Seat price is unknown")),
    ]
    for failed, refusal in failures:
        guards = replace(guards, **failed)
        assert _refused(guards) == refusal
    failures = [
        ({"active": False, "status": "released"}, (400, "Reservation is released")),
        ({"not_expired": False}, (400, "Reservation has expired")),
        ({"customers": False}, (403, "Reservation belongs to another customer")),
        ({"for_the_seat": False}, (400, "Reservation is for a different seat")),
        ({"found": False}, (400, "Reservation not found")),
    ]
    for failed, refusal in failures:
        guards = replace(guards, reservation=replace(guards.reservation, **failed))
        assert _refused(guards) == refusal


def test_checkout_reports_the_first_guard_that_did_not_hold_in_the_contracts_order() -> None:
    # Given the guards of a checkout, every one held
    guards = CheckoutGuards(found=True, owned=True, is_draft=True, has_items=True, reservations_live=True)
    assert _refused(guards) is None
    # When they fail one after another, from the last to the first
    # Then each time the first that failed is reported, whatever fails after it
    for failed, refusal in [
        ("reservations_live", (400, "Reservation has expired")),
        ("has_items", (400, "Order is empty")),
        ("is_draft", (400, "Order is not in draft state")),
        ("owned", (401, "Unauthorized")),
        ("found", (404, "Order not found")),
    ]:
        guards = replace(guards, **{failed: False})
        assert _refused(guards) == refusal


def test_cancel_answers_a_cancelled_order_as_it_is_and_anothers_as_none() -> None:
    # Given the guards of a cancel of the caller's pending order
    mine = CancelGuards(found=True, owned=True, may_cancel=True, state_found="pending")
    # Then it is cancelled, and one cancelled already is no refusal either (a retry succeeds)
    assert _refused(mine) is None
    assert _refused(replace(mine, state_found="cancelled")) is None
    # When it is paid, Then the state is named; when it is another's or none, Then it is not found
    assert _refused(replace(mine, may_cancel=False, state_found="paid")) == (
        409, "Order cannot be cancelled in state 'paid'",
    )  # fmt: skip
    assert _refused(replace(mine, owned=False)) == (404, "Order not found")
    assert _refused(CancelGuards(found=False, owned=False, may_cancel=False, state_found="")) == (
        404,
        "Order not found",
    )
