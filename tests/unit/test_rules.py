"""The domain's rules, without I/O."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from ordering.domain import errors
from ordering.domain.identity import Caller, secret_hash
from ordering.domain.order import Order, OrderItem, OrderState, can_transition
from ordering.domain.reservation import Reservation
from ordering.domain.rules import SeatHolder, check_checkout, check_placement, check_price, check_reservation

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


def test_the_seat_in_my_draft_is_already_in_the_cart_and_in_any_other_order_a_conflict() -> None:
    mine = SeatHolder(uuid.uuid4(), "user:ana", OrderState.DRAFT)
    my_pending = SeatHolder(uuid.uuid4(), "user:ana", OrderState.PENDING)
    with pytest.raises(errors.SeatAlreadyInCart):
        check_placement(ANA, mine, 1, 10)
    with pytest.raises(errors.SeatInAnotherOrder):
        check_placement(ANA, my_pending, 1, 10)
    with pytest.raises(errors.OrderFull, match="Order cannot hold more than 10 seats"):
        check_placement(ANA, None, 10, 10)


def test_checkout_checks_in_the_contracts_order() -> None:
    item = OrderItem(uuid.uuid4(), SEAT, Decimal("50.00"), uuid.uuid4(), None, None)
    order = Order(uuid.uuid4(), "user:ana", "ana", None, OrderState.DRAFT, Decimal("50.00"), NOW, None, (item,))
    with pytest.raises(errors.OrderNotFound):
        check_checkout(ANA, None, [], NOW)
    with pytest.raises(errors.Unauthorized):
        check_checkout(Caller(user_id="bob"), order, [_reservation()], NOW)
    with pytest.raises(errors.ReservationExpired):
        check_checkout(ANA, order, [_reservation(status="expired")], NOW)
    check_checkout(ANA, order, [_reservation()], NOW)
