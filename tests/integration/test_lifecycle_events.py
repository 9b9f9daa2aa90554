"""The order lifecycle driven by Payment, Fulfillment and Inventory events (docs/contract.md), through
the consumer functions' handlers with MSK-shaped events, on real PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis

from ordering_local.events import Message
from tests.support import (
    USER,
    Service,
    conflicts,
    dead_letters,
    order_row,
    payment_failed,
    payment_succeeded,
    reservation_created,
    reservation_expired,
    ticket_issued,
    utc_now,
)

NO_FAILURES: dict[str, list[Any]] = {"batchItemFailures": []}


def _pending(service: Service, **cart: Any) -> dict[str, Any]:
    order = service.cart(**cart)
    reply = service.checkout(order["id"], who=None if cart.get("guest") else USER, guest=cart.get("guest"))
    assert reply.status == 200, reply.body
    pending: dict[str, Any] = reply.body
    return pending


def test_payment_succeeded_marks_the_order_paid_at_the_processing_time(service: Service, database_url: str) -> None:
    # Given a pending order
    order = _pending(service)
    processed = utc_now() - dt.timedelta(seconds=30)
    # When its payment succeeds
    assert service.publish("payment-succeeded", payment_succeeded(order, processed_at=processed)) == NO_FAILURES
    # Then it is paid, at the time Payment processed it, and GET says so
    state, paid_at, _ = order_row(database_url, order["id"])
    assert state == "paid"
    assert abs(paid_at - processed) < dt.timedelta(milliseconds=1)
    read = service.get(f"/orders/{order['id']}", {"Authorization": f"Bearer {_token()}"})
    assert read.body["state"] == "paid"
    assert read.body["paidAt"] == processed.strftime("%Y-%m-%dT%H:%M:%SZ")


def _token() -> str:
    from tests.support import token

    return token()


@pytest.mark.parametrize("checked_out", [True, False], ids=["pending", "draft"])
def test_payment_failed_cancels_a_draft_or_pending_order_and_frees_its_seats(
    service: Service, database_url: str, checked_out: bool
) -> None:
    # Given an order, pending or still a draft
    order = _pending(service) if checked_out else service.cart()
    # When its payment fails
    assert service.publish("payment-failed", payment_failed(order)) == NO_FAILURES
    # Then it is cancelled and its seat may go to someone else
    assert order_row(database_url, order["id"])[0] == "cancelled"
    with psycopg.connect(database_url) as connection:
        live = connection.execute("SELECT count(*) FROM bc_ordering.order_items WHERE order_live").fetchone()
    assert live == (0,)


def test_payment_failed_is_ignored_for_a_paid_order(service: Service, database_url: str) -> None:
    order = _pending(service)
    service.publish("payment-succeeded", payment_succeeded(order))
    assert service.publish("payment-failed", payment_failed(order)) == NO_FAILURES
    assert order_row(database_url, order["id"])[0] == "paid"
    assert conflicts(database_url) == []


@pytest.mark.parametrize("camel", [False, True], ids=["snake_case", "camelCase"])
def test_ticket_issued_fulfils_a_paid_order(service: Service, database_url: str, camel: bool) -> None:
    order = _pending(service)
    service.publish("payment-succeeded", payment_succeeded(order))
    assert service.publish("ticket-issued", ticket_issued(order, camel=camel)) == NO_FAILURES
    state, paid_at, fulfilled_at = order_row(database_url, order["id"])
    assert (state, paid_at is not None, fulfilled_at is not None) == ("fulfilled", True, True)


def test_a_ticket_before_its_payment_still_ends_fulfilled_with_paid_at(service: Service, database_url: str) -> None:
    # Given a pending order
    order = _pending(service)
    processed = utc_now()
    # When Fulfillment's ticket arrives before Payment's success
    assert service.publish("ticket-issued", ticket_issued(order)) == NO_FAILURES
    assert order_row(database_url, order["id"])[0] == "fulfilled"
    assert service.publish("payment-succeeded", payment_succeeded(order, processed_at=processed)) == NO_FAILURES
    # Then the order is fulfilled, and paid at the payment's time
    state, paid_at, _ = order_row(database_url, order["id"])
    assert state == "fulfilled"
    assert abs(paid_at - processed) < dt.timedelta(milliseconds=1)


def test_an_expiry_cancels_the_order_holding_that_reservation_and_leaves_the_cache(
    service: Service, database_url: str, cache_client: redis.Redis, stores: dict[str, str]
) -> None:
    # Given a reservation in a pending order
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    order = service.add_to_cart(reservation).body
    assert service.checkout(order["id"]).status == 200
    assert cache_client.exists(f"{stores['REDIS_KEY_PREFIX']}seat-reservation:{reservation['seatId']}")
    # When the reservation expires
    assert service.publish("reservation-expired", reservation_expired(reservation)) == NO_FAILURES
    # Then the order is cancelled, the reservation is expired, and the cache forgets it
    assert order_row(database_url, order["id"])[0] == "cancelled"
    with psycopg.connect(database_url) as connection:
        status = connection.execute(
            "SELECT status FROM bc_ordering.reservations WHERE id = %s", (reservation["reservationId"],)
        ).fetchone()
    assert status == ("expired",)
    assert not cache_client.exists(f"{stores['REDIS_KEY_PREFIX']}seat-reservation:{reservation['seatId']}")


def test_an_expiry_never_cancels_another_order_that_merely_has_the_same_seat(
    service: Service, database_url: str
) -> None:
    # Given a seat first held by ana's order (then cancelled), now in bob's cart under a new reservation
    first = reservation_created(customer="ana")
    service.publish("reservation-created", first)
    anas = service.add_to_cart(first, who="ana").body
    service.publish("payment-failed", payment_failed(anas))
    second = reservation_created(customer="bob", seat=first["seatId"])
    service.publish("reservation-created", second)
    bobs = service.add_to_cart(second, who="bob")
    assert bobs.status == 200, bobs.body
    # When ana's old reservation expires late
    assert service.publish("reservation-expired", reservation_expired(first)) == NO_FAILURES
    # Then bob's order is untouched
    assert order_row(database_url, bobs.body["id"])[0] == "draft"


def test_an_expiry_before_the_reservation_is_known_still_wins(service: Service, database_url: str) -> None:
    # Given a reservation whose expiry is consumed before its creation
    reservation = reservation_created()
    assert service.publish("reservation-expired", reservation_expired(reservation)) == NO_FAILURES
    assert service.publish("reservation-created", reservation) == NO_FAILURES
    # When the customer tries to add the seat, Then the reservation is expired
    reply = service.add_to_cart(reservation)
    assert (reply.status, reply.error) == (400, "Reservation has expired")


def test_a_payment_for_a_cancelled_order_is_a_refund_conflict_logged_and_counted(
    service: Service, database_url: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given an order cancelled by a failed payment
    order = _pending(service)
    service.publish("payment-failed", payment_failed(order))
    capsys.readouterr()
    # When a payment for it succeeds anyway
    assert service.publish("payment-succeeded", payment_succeeded(order)) == NO_FAILURES
    # Then the order stays cancelled, a refund is recorded, logged at error level, and counted
    assert order_row(database_url, order["id"])[0] == "cancelled"
    assert conflicts(database_url, order["id"]) == [("payment_for_cancelled_order", "refund", Decimal("50.00"))]
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.getMessage() == "order conflict recorded"]
    assert len(logged) == 1
    assert "payment_for_cancelled_order" in str(vars(logged[0]))
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    assert any(metric.get("OrderConflicts") == [1.0] for metric in metrics)


def test_a_payment_of_another_amount_is_a_review_conflict_and_changes_nothing(
    service: Service, database_url: str
) -> None:
    order = _pending(service)
    assert service.publish("payment-succeeded", payment_succeeded(order, amount=49.99)) == NO_FAILURES
    assert order_row(database_url, order["id"])[0] == "pending"
    assert conflicts(database_url, order["id"]) == [("payment_amount_mismatch", "review", Decimal("49.99"))]


def test_a_redelivered_event_is_applied_once(service: Service, database_url: str) -> None:
    # Given a payment for a cancelled order (a conflict each time it were applied)
    order = _pending(service)
    service.publish("payment-failed", payment_failed(order))
    payment = payment_succeeded(order)
    # When it is delivered three times: twice in one batch, then again at another offset
    assert service.publish("payment-succeeded", payment, payment, first_offset=10) == NO_FAILURES
    assert service.publish("payment-succeeded", payment, first_offset=99) == NO_FAILURES
    # Then it was applied once
    assert len(conflicts(database_url, order["id"])) == 1
    with psycopg.connect(database_url) as connection:
        ledger = connection.execute(
            "SELECT kafka_offset FROM bc_ordering.consumed_events WHERE event_id = %s", (payment["paymentId"],)
        ).fetchall()
    assert ledger == [(10,)]


def test_an_event_for_an_unknown_order_is_a_dead_letter_and_does_not_block(service: Service, database_url: str) -> None:
    # Given a ticket for an order nobody knows, and a good one after it in the same partition
    order = _pending(service)
    service.publish("payment-succeeded", payment_succeeded(order))
    stray = ticket_issued({"id": "00000000-0000-4000-8000-000000000000"})
    # When the batch is consumed
    assert service.publish("ticket-issued", stray, ticket_issued(order), first_offset=5) == NO_FAILURES
    # Then the good one is applied and the stray one is kept with where it came from and why
    assert order_row(database_url, order["id"])[0] == "fulfilled"
    [(topic, partition, offset, value, reason)] = dead_letters(database_url)
    assert (topic, partition, offset) == ("ticket-issued", 0, 5)
    assert json.loads(value or b"")["order_id"] == stray["order_id"]
    assert reason == f"unknown order {stray['order_id']}"


def test_bad_records_are_dead_letters_and_good_ones_are_applied(service: Service, database_url: str) -> None:
    # Given a batch with a good payment between a non-JSON record and one that breaks the schema
    order = _pending(service)
    guest_secret = reservation_created(customer="guest-secret-token")
    messages = [
        Message("payment-succeeded", b"\xff not json", offset=1),
        Message("payment-succeeded", payment_succeeded(order), offset=2),
        Message("payment-succeeded", {**payment_succeeded(order), "amount": "lots"}, offset=3),
        Message("reservation-created", {**guest_secret, "seatId": "not-a-uuid"}, offset=4),
    ]
    # When it is consumed
    payments = service.deliver("payment-succeeded", messages[:3])
    reservations = service.deliver("reservation-created", messages[3:])
    # Then nothing is retried, the good one is applied, the bad ones are kept with their reasons
    assert payments == reservations == NO_FAILURES
    assert order_row(database_url, order["id"])[0] == "paid"
    letters = dead_letters(database_url)
    assert [(topic, offset, reason) for topic, _, offset, _, reason in letters] == [
        ("payment-succeeded", 1, "value is not JSON"),
        ("payment-succeeded", 3, "schema: amount: decimal_parsing"),
        ("reservation-created", 4, "schema: seatId: uuid_parsing"),
    ]
    assert letters[0][3] == b"\xff not json"
    # and a guest token inside a dead letter is kept only as its hash
    assert b"guest-secret-token" not in (letters[2][3] or b"")


def test_with_the_database_down_records_are_retried_and_nothing_is_half_written(
    service: Service, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two pending orders, and their payments arriving while the database is unreachable
    order, other = _pending(service), _pending(service, guest="guest-2")
    payment = payment_succeeded(order)
    with monkeypatch.context() as down:
        from ordering.config import settings
        from ordering_local.embedded import _free_port

        down.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{_free_port()}/nothing")
        down.setenv("DB_CONNECT_TIMEOUT_S", "1")
        settings.cache_clear()
        response = service.publish("payment-succeeded", payment, payment_succeeded(other), first_offset=20)
    settings.cache_clear()
    # Then both records are reported for retry, and nothing was written
    assert [failure["itemIdentifier"]["offset"] for failure in response["batchItemFailures"]] == [20, 21]
    assert order_row(database_url, order["id"])[0] == order_row(database_url, other["id"])[0] == "pending"
    # and when Lambda retries them with the database back, they are applied
    assert service.publish("payment-succeeded", payment, first_offset=20) == NO_FAILURES
    assert order_row(database_url, order["id"])[0] == "paid"


def test_a_batch_of_only_bad_records_is_kept_without_any_failure_logged(
    service: Service, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a batch whose every record breaks the schema
    messages = [Message("ticket-issued", {"order_id": "nope"}, offset=7)]
    # When it is consumed
    response = service.deliver("ticket-issued", messages)
    # Then it is kept as a dead letter, nothing is retried, and no failure of ours is logged
    assert response == NO_FAILURES
    assert [(offset, reason) for _, _, offset, _, reason in dead_letters(database_url)] == [
        (7, "schema: order_id: uuid_parsing")
    ]
    assert not [r for r in caplog.records if r.exc_info]
