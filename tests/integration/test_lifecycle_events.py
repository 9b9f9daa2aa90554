"""The order lifecycle driven by Payment, Fulfillment and Inventory events (docs/contract.md), through
the consumer functions' handlers with MSK-shaped events, on real PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis

from ordering.domain.identity import Caller
from ordering.store import orders, reservations
from ordering.store.lifecycle import _LOCK_ORDERS
from ordering_local.events import Message
from tests.support import (
    REDACTION_SECRET,
    USER,
    Service,
    bearer,
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


def _cancelled(service: Service, reason: str) -> dict[str, Any]:
    """A pending order of USER's, then cancelled: by its customer, by a platform service, by the
    expiry of its reservation, or by a failed payment (the reasons of orders.cancel_reason)."""
    order = _pending(service)
    if reason in ("customer", "service"):
        api, headers = ("public", bearer()) if reason == "customer" else ("internal", {})
        reply = service.patch(f"/orders/{order['id']}/cancel", {}, headers, api=api)
        assert (reply.status, reply.body["state"]) == (200, "cancelled"), reply.body
    elif reason == "reservation-expired":
        expiry = reservation_expired({**order["items"][0], "customerId": USER})
        assert service.publish("reservation-expired", expiry) == NO_FAILURES
    else:
        assert service.publish("payment-failed", payment_failed(order)) == NO_FAILURES
    return order


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
    # Given an order its customer cancelled
    order = _cancelled(service, "customer")
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
    order = _cancelled(service, "customer")
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


def test_a_dead_letter_keeps_customer_ids_only_as_keyed_hashes(service: Service, database_url: str) -> None:
    # Given records that can never be applied, carrying a guest's token as their customer id: one
    # JSON, one cut short (not JSON)
    whole = {**reservation_created(customer="guest-secret-token"), "seatId": "not-a-uuid"}
    cut = json.dumps(reservation_created(customer="guest-secret-token")).encode()[:160]
    assert b'"customerId": "guest-secret-token"' in cut
    # When they are consumed
    response = service.deliver(
        "reservation-created",
        [Message("reservation-created", whole, offset=1), Message("reservation-created", cut, offset=2)],
    )
    # Then both are kept with the customer id as its HMAC under the configured key, which a guess
    # cannot be checked against without that key (it is not the plain sha256)
    assert response == NO_FAILURES
    keyed = "hmac-sha256:" + hmac.new(REDACTION_SECRET.encode(), b"guest-secret-token", hashlib.sha256).hexdigest()
    plain = hashlib.sha256(b"guest-secret-token").hexdigest()
    kept = [value or b"" for _, _, _, value, _ in dead_letters(database_url)]
    assert json.loads(kept[0])["customerId"] == keyed
    assert f'"customerId": "{keyed}"'.encode() in kept[1]
    for value in kept:
        assert b"guest-secret-token" not in value
        assert plain.encode() not in value


def test_with_the_database_down_records_are_retried_and_nothing_is_half_written(
    service: Service, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two pending orders, and their payments arriving while the database is unreachable
    order, other = _pending(service), _pending(service, guest="guest-2")
    payment = payment_succeeded(order)
    with monkeypatch.context() as down:
        from ordering.config import settings
        from ordering_local.embedded import free_port

        down.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
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


# A payment that failed and was retried: payment-failed and payment-succeeded on two topics, in
# either order. An order the failure cancelled is paid again while its seats are still free.


def _cancel_reason_and_live_items(database_url: str, order_id: Any) -> tuple[Any, int]:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT o.cancel_reason, count(i.id) FILTER (WHERE i.order_live) FROM bc_ordering.orders o"
            " JOIN bc_ordering.order_items i ON i.order_id = o.id WHERE o.id = %s GROUP BY o.id",
            (order_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_retried_payment_that_succeeds_after_its_failure_pays_the_order_again(
    service: Service, database_url: str
) -> None:
    # Given a pending order of two seats that a failed payment cancelled
    order = _pending(service, seats=2)
    assert service.publish("payment-failed", payment_failed(order)) == NO_FAILURES
    assert _cancel_reason_and_live_items(database_url, order["id"]) == ("payment-failed", 0)
    processed = utc_now() - dt.timedelta(seconds=5)
    # When the retried payment succeeds, for the full amount, in a later batch
    payment = payment_succeeded(order, processed_at=processed)
    assert service.publish("payment-succeeded", payment) == NO_FAILURES
    # Then the order is paid at the payment's time, holds its seats again, has no cancel reason,
    # and nothing is recorded to refund; GET says so
    state, paid_at, _ = order_row(database_url, order["id"])
    assert state == "paid"
    assert abs(paid_at - processed) < dt.timedelta(milliseconds=1)
    assert _cancel_reason_and_live_items(database_url, order["id"]) == (None, 2)
    assert conflicts(database_url) == []
    read = service.get(f"/orders/{order['id']}", bearer())
    assert (read.body["state"], read.body["paidAt"]) == ("paid", processed.strftime("%Y-%m-%dT%H:%M:%SZ"))
    # and a second payment is still a duplicate to refund
    assert service.publish("payment-succeeded", payment_succeeded(order)) == NO_FAILURES
    assert conflicts(database_url, order["id"]) == [("second_payment", "refund", Decimal("100.00"))]


def test_a_failure_and_its_retried_success_in_one_batch_end_paid(service: Service, database_url: str) -> None:
    # Given a pending order
    order = _pending(service)
    # When its payment's failure, then its retry's success, arrive in one batch (each twice)
    failure, success = payment_failed(order), payment_succeeded(order)
    messages = [
        Message(topic, payload, offset=offset)
        for offset, (topic, payload) in enumerate(
            [("payment-failed", failure), ("payment-succeeded", success)] * 2, start=30
        )
    ]
    assert service.deliver("payment-failed", messages) == NO_FAILURES
    # Then the order is paid, with no conflict
    assert order_row(database_url, order["id"])[0] == "paid"
    assert conflicts(database_url) == []


def test_a_ticket_between_a_failure_and_its_retried_success_ends_fulfilled(service: Service, database_url: str) -> None:
    # Given a pending order that a failed payment cancelled
    order = _pending(service)
    assert service.publish("payment-failed", payment_failed(order)) == NO_FAILURES
    processed = utc_now()
    # When Fulfillment's ticket for the retried payment arrives before that payment does
    assert service.publish("ticket-issued", ticket_issued(order)) == NO_FAILURES
    assert service.publish("payment-succeeded", payment_succeeded(order, processed_at=processed)) == NO_FAILURES
    # Then the order is fulfilled, paid at the payment's time, with no conflict
    state, paid_at, fulfilled_at = order_row(database_url, order["id"])
    assert (state, fulfilled_at is not None) == ("fulfilled", True)
    assert abs(paid_at - processed) < dt.timedelta(milliseconds=1)
    assert conflicts(database_url) == []


def _bob_takes_the_seat(service: Service, order: dict[str, Any]) -> dict[str, Any]:
    """Another customer reserves the first seat of the order and puts it in a cart of his own."""
    reservation = reservation_created(customer="bob", seat=order["items"][0]["seatId"])
    assert service.publish("reservation-created", reservation) == NO_FAILURES
    cart = service.add_to_cart(reservation, who="bob")
    assert cart.status == 200, cart.body
    bobs: dict[str, Any] = cart.body
    return bobs


def _stored_order(database_url: str, order_id: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT o.*, i.* FROM bc_ordering.orders o JOIN bc_ordering.order_items i ON i.order_id = o.id"
            " WHERE o.id = %s ORDER BY i.id",
            (order_id,),
        ).fetchall()


def test_a_retried_payment_for_an_order_whose_seat_another_customer_took_is_a_refund(
    service: Service, database_url: str
) -> None:
    # Given two pending orders that failed payments cancelled, and another customer who then
    # took the first seat of one of them
    taken, free = _pending(service, seats=2), _pending(service)
    assert service.publish("payment-failed", payment_failed(taken), payment_failed(free)) == NO_FAILURES
    bobs = _bob_takes_the_seat(service, taken)
    bobs_before = _stored_order(database_url, bobs["id"])
    # When both retried payments succeed, in one batch
    assert service.publish("payment-succeeded", payment_succeeded(taken), payment_succeeded(free)) == NO_FAILURES
    # Then the order whose seat was taken stays cancelled, holding nothing, and its payment is
    # to refund; the other order is paid; the other customer's order is untouched
    assert order_row(database_url, taken["id"])[0] == "cancelled"
    assert _cancel_reason_and_live_items(database_url, taken["id"]) == ("payment-failed", 0)
    assert conflicts(database_url, taken["id"]) == [("payment_for_cancelled_order", "refund", Decimal("100.00"))]
    assert order_row(database_url, free["id"])[0] == "paid"
    assert conflicts(database_url, free["id"]) == []
    assert _stored_order(database_url, bobs["id"]) == bobs_before


def test_two_orders_a_failure_cancelled_with_a_seat_in_common_one_is_paid_again_one_is_refunded(
    service: Service, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given ana's order that a failed payment cancelled, then bob's order for the same seat,
    # which a failed payment cancelled too
    anas = _pending(service)
    assert service.publish("payment-failed", payment_failed(anas)) == NO_FAILURES
    bobs = _bob_takes_the_seat(service, anas)
    assert service.checkout(bobs["id"], who="bob").status == 200
    assert service.publish("payment-failed", payment_failed(bobs)) == NO_FAILURES
    # When both retried payments succeed, in one batch, ana's first
    both = payment_succeeded(anas), payment_succeeded(bobs)
    assert service.publish("payment-succeeded", *both) == NO_FAILURES
    # Then ana's order is paid and holds the seat; bob's stays cancelled, his payment to refund
    assert order_row(database_url, anas["id"])[0] == "paid"
    assert order_row(database_url, bobs["id"])[0] == "cancelled"
    assert conflicts(database_url) == [("payment_for_cancelled_order", "refund", Decimal("50.00"))]
    assert conflicts(database_url, bobs["id"]) == conflicts(database_url)
    # in the batch as it came, with no failure logged (the batch knew the seat was ana's again)
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("reason", ["customer", "service", "reservation-expired"])
def test_only_a_payment_failure_is_undone_by_a_payment_any_other_cancellation_is_a_refund(
    service: Service, database_url: str, reason: str
) -> None:
    # Given an order cancelled for another reason than a failed payment, and one a failed
    # payment cancelled
    other, failed = _cancelled(service, reason), _cancelled(service, "payment-failed")
    # When a payment for each succeeds, in one batch
    assert service.publish("payment-succeeded", payment_succeeded(other), payment_succeeded(failed)) == NO_FAILURES
    # Then the first stays cancelled with its payment to refund, and only the second is paid
    assert order_row(database_url, other["id"])[0] == "cancelled"
    assert conflicts(database_url, other["id"]) == [("payment_for_cancelled_order", "refund", Decimal("50.00"))]
    assert order_row(database_url, failed["id"])[0] == "paid"
    assert conflicts(database_url, failed["id"]) == []


def test_a_seat_taken_while_the_revival_is_under_way_is_a_refund_and_nothing_half_written(
    service: Service, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an order that a failed payment cancelled, and another customer's add-to-cart of its
    # seat under way (its transaction not yet committed, so the batch cannot see it)
    order = _pending(service)
    assert service.publish("payment-failed", payment_failed(order)) == NO_FAILURES
    reservation = reservation_created(customer="bob", seat=order["items"][0]["seatId"])
    assert service.publish("reservation-created", reservation) == NO_FAILURES
    bob = psycopg.connect(database_url)
    with psycopg.connect(database_url) as found:
        bobs_reservation = reservations.find(found, uuid.UUID(reservation["reservationId"]))
    assert bobs_reservation is not None
    bobs = orders.add_item(
        bob,
        caller=Caller(user_id="bob"),
        reservation=bobs_reservation,
        price=Decimal("50.00"),
        max_seats=10,
        max_seats_per_event=10,
        order_id=uuid.uuid4(),
        item_id=uuid.uuid4(),
        now=utc_now(),
        verify_prices=False,
    ).order
    assert bobs is not None
    # When the retried payment succeeds meanwhile: the revival waits on bob's uncommitted seat,
    # and bob's add-to-cart commits
    replies: list[dict[str, Any]] = []
    payment = threading.Thread(
        target=lambda: replies.append(service.publish("payment-succeeded", payment_succeeded(order)))
    )
    payment.start()
    waited = False
    with psycopg.connect(database_url, autocommit=True) as watcher:
        deadline = time.monotonic() + 10
        while payment.is_alive() and not waited and time.monotonic() < deadline:
            waited = watcher.execute(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
            ).fetchone() == (True,)
            time.sleep(0.01)
    bob.commit()
    bob.close()
    payment.join(timeout=30)
    # Then the revival was attempted, the unique index refused it, and the batch applied again:
    # the order stays cancelled with its payment to refund, bob keeps the seat, nothing is
    # retried by Lambda, and no failure was logged
    assert waited
    assert replies == [NO_FAILURES]
    assert order_row(database_url, order["id"])[0] == "cancelled"
    assert _cancel_reason_and_live_items(database_url, order["id"]) == ("payment-failed", 0)
    assert conflicts(database_url, order["id"]) == [("payment_for_cancelled_order", "refund", Decimal("50.00"))]
    assert order_row(database_url, bobs.id)[0] == "draft"
    assert not [r for r in caplog.records if r.exc_info]


# Corrections: a cart a payment failure cancelled, a free waitlist seat, a ticket id used twice.


@pytest.mark.parametrize("failure_first", [True, False], ids=["failure-first", "success-first"])
def test_a_cart_cancelled_by_a_payment_failure_is_never_paid_afterwards(
    service: Service, database_url: str, failure_first: bool
) -> None:
    # Given a cart (a draft, never checked out), and a failure and a success of a payment for it
    cart = service.cart()
    failure, success = payment_failed(cart), payment_succeeded(cart)
    # When both arrive, in either order
    for topic, payload in [("payment-failed", failure), ("payment-succeeded", success)][:: 1 if failure_first else -1]:
        assert service.publish(topic, payload) == NO_FAILURES
    # Then it stays cancelled, its seat free, and the payment is recorded for a person to look at
    assert order_row(database_url, cart["id"])[0] == "cancelled"
    assert _cancel_reason_and_live_items(database_url, cart["id"]) == ("payment-failed", 0)
    kind = "payment_for_cancelled_order" if failure_first else "payment_for_draft_order"
    assert [conflict[0] for conflict in conflicts(database_url, cart["id"])] == [kind]


def test_a_checked_out_order_cancelled_by_a_payment_failure_is_still_paid_by_its_retry(
    service: Service, database_url: str
) -> None:
    # Given a pending (checked-out) order a payment failure cancelled
    order = _pending(service)
    assert service.publish("payment-failed", payment_failed(order)) == NO_FAILURES
    # When its retried payment succeeds
    assert service.publish("payment-succeeded", payment_succeeded(order)) == NO_FAILURES
    # Then it is paid
    assert order_row(database_url, order["id"])[0] == "paid"
    assert conflicts(database_url) == []


def test_a_payment_of_zero_pays_a_free_waitlist_order(service: Service, database_url: str) -> None:
    # Given a waitlist order the Waitlist service placed at price 0
    placed = service.post(
        "/orders/waitlist",
        {"seatId": str(uuid.uuid4()), "price": 0, "guestToken": "ana@example.com", "concertEventId": None},
        api="internal",
    )
    assert placed.status == 201, placed.body
    order = {"id": placed.body["orderId"], "totalAmount": Decimal("0.00"), "items": []}
    # When Payment reports its payment of 0
    assert service.publish("payment-succeeded", payment_succeeded(order, amount=0)) == NO_FAILURES
    # Then it is paid, with no dead letter and no conflict
    assert order_row(database_url, order["id"])[0] == "paid"
    assert dead_letters(database_url) == []
    assert conflicts(database_url) == []


def test_a_payment_of_zero_for_an_order_that_costs_more_is_a_review_conflict(
    service: Service, database_url: str
) -> None:
    # Given a pending order of 50.00
    order = _pending(service)
    # When a payment of 0 arrives for it
    assert service.publish("payment-succeeded", payment_succeeded(order, amount=0)) == NO_FAILURES
    # Then it stays pending, and the amount is recorded for review
    assert order_row(database_url, order["id"])[0] == "pending"
    assert conflicts(database_url, order["id"]) == [("payment_amount_mismatch", "review", Decimal("0.00"))]


@pytest.mark.parametrize("same_batch", [False, True], ids=["later-batch", "same-batch"])
def test_a_ticket_id_already_applied_to_another_order_is_a_recorded_conflict(
    service: Service, database_url: str, same_batch: bool
) -> None:
    # Given two paid orders
    first, second = _pending(service), _pending(service)
    for order in (first, second):
        assert service.publish("payment-succeeded", payment_succeeded(order)) == NO_FAILURES
    ticket = "TKT-1"
    # When Fulfillment issues the same ticket id for both (each record delivered twice)
    records = [ticket_issued(first, ticket_id=ticket), ticket_issued(second, ticket_id=ticket)]
    if same_batch:
        assert service.publish("ticket-issued", *records, *records) == NO_FAILURES
    else:
        assert service.publish("ticket-issued", records[0], records[0]) == NO_FAILURES
        assert service.publish("ticket-issued", records[1], records[1], first_offset=5) == NO_FAILURES
    # Then the first is fulfilled; the second stays paid, with the ticket recorded once for review
    assert order_row(database_url, first["id"])[0] == "fulfilled"
    assert order_row(database_url, second["id"])[0] == "paid"
    assert conflicts(database_url, first["id"]) == []
    assert conflicts(database_url, second["id"]) == [("ticket_for_another_order", "review", None)]


def test_a_payment_id_already_applied_to_another_order_is_a_recorded_conflict(
    service: Service, database_url: str
) -> None:
    # Given two pending orders, the first paid by a payment
    first, second = _pending(service), _pending(service)
    payment = payment_succeeded(first)
    assert service.publish("payment-succeeded", payment) == NO_FAILURES
    # When the same payment id comes for the second order
    assert service.publish("payment-succeeded", {**payment, "orderId": second["id"]}, first_offset=3) == NO_FAILURES
    # Then the second stays pending, and the payment is recorded for review
    assert order_row(database_url, second["id"])[0] == "pending"
    assert conflicts(database_url, second["id"]) == [("payment_for_another_order", "review", Decimal("50.00"))]


def test_a_ticket_id_claimed_at_the_same_moment_for_another_order_is_still_a_conflict(
    service: Service, database_url: str
) -> None:
    # Given two paid orders, and the ticket TKT-9 being applied to the first by a batch that has
    # claimed it and not yet committed (another partition's consumer, at the same moment)
    first, second = _pending(service), _pending(service)
    for order in (first, second):
        assert service.publish("payment-succeeded", payment_succeeded(order)) == NO_FAILURES
    other = psycopg.connect(database_url)
    other.execute(
        "INSERT INTO bc_ordering.consumed_events (topic, event_id, kafka_partition, kafka_offset, order_id)"
        " VALUES ('ticket-issued', 'TKT-9', 1, 0, %s)",
        (first["id"],),
    )
    # When the same ticket id arrives for the second order meanwhile (its claim waits on the
    # first's), and the first batch commits
    replies: list[Any] = []
    consumer = threading.Thread(
        target=lambda: replies.append(service.publish("ticket-issued", ticket_issued(second, ticket_id="TKT-9")))
    )
    consumer.start()
    time.sleep(0.5)
    other.commit()
    other.close()
    consumer.join(timeout=30)
    # Then the second order's ticket is recorded as a conflict, not taken for a redelivery
    assert replies == [NO_FAILURES]
    assert order_row(database_url, second["id"])[0] == "paid"
    assert conflicts(database_url, second["id"]) == [("ticket_for_another_order", "review", None)]


def test_a_batch_finds_the_orders_it_locks_by_their_ids_never_by_reading_them_all(database_url: str) -> None:
    # Given the statement that locks a batch's orders, and a database told to scan a table only
    # when there is no other way (here the tables are small enough that a scan would be cheaper)
    with psycopg.connect(database_url) as connection:
        connection.execute("SET LOCAL enable_seqscan = off")
        # When PostgreSQL plans it for a batch naming orders and expiring reservations
        row = connection.execute(
            f"EXPLAIN (FORMAT JSON) {_LOCK_ORDERS}", {"named": [uuid.uuid4()], "expiring": [uuid.uuid4()]}
        ).fetchone()
    assert row is not None
    # Then it reaches the orders by their key, never by reading all of them (a table that grows
    # with every sale): each read of the table has an index condition on the id
    reads = list(_plan_nodes(row[0][0]["Plan"], relation="orders"))
    assert reads, row
    assert all("(id = " in node.get("Index Cond", "") for node in reads), reads


def _plan_nodes(node: dict[str, Any], *, relation: str) -> Any:
    if node.get("Relation Name") == relation:
        yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child, relation=relation)
