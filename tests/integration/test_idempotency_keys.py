"""Idempotency-Key on the mutating endpoints: one effect per caller and key, whatever the
retries, the concurrency, or what happened to Redis."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import redis

from tests.support import USER, Reply, Service, bearer, reservation_created


def _keyed(key: str, who: str = USER) -> dict[str, str]:
    return {**bearer(who), "Idempotency-Key": key}


def _add(service: Service, reservation: dict[str, Any], key: str, who: str = USER, price: str = "50.00") -> Reply:
    return service.add_to_cart(reservation, who=who, headers=_keyed(key, who), price=price)


def _items(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT count(*) FROM bc_ordering.order_items").fetchone()
    assert row is not None
    return int(row[0])


def test_a_retry_with_the_same_key_gets_the_first_answer_and_changes_nothing(
    service: Service, database_url: str
) -> None:
    # Given a seat added with a key
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    first = _add(service, reservation, "key-1")
    # When the client retries the same request with the same key
    again = _add(service, reservation, "key-1")
    # Then it gets the first answer back, told it is a replay, and there is still one item
    assert first.status == 200, first.body
    assert (again.status, again.body) == (200, first.body)
    assert ("Idempotent-Replayed" in first.headers, again.headers.get("Idempotent-Replayed")) == (False, "true")
    assert _items(database_url) == 1
    # whereas without a key the same request is refused as what it is
    assert service.add_to_cart(reservation).error == "Seat is already in the cart"


def test_the_same_key_with_another_request_is_a_409(service: Service, database_url: str) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    assert _add(service, reservation, "key-2").status == 200
    other = _add(service, reservation, "key-2", price="60.00")
    assert (other.status, other.error) == (409, "Idempotency key reused with a different request")
    assert _items(database_url) == 1


def test_keys_are_the_callers_own(service: Service) -> None:
    # Given user-123's request with a key
    mine, theirs = reservation_created(), reservation_created(customer="user-456")
    service.publish("reservation-created", mine, theirs)
    assert _add(service, mine, "shared-key").status == 200
    # When another user sends the same key with their own request, it is theirs: no replay
    reply = _add(service, theirs, "shared-key", who="user-456")
    assert (reply.status, reply.body["userId"], "Idempotent-Replayed" in reply.headers) == (200, "user-456", False)


def test_ten_concurrent_requests_with_one_key_make_one_effect(concurrent_service: Service, database_url: str) -> None:
    # Given a cart to check out
    cart = concurrent_service.cart()
    # When ten copies of the checkout, with one key, arrive at once
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda _: concurrent_service.checkout(cart["id"], headers=_keyed("checkout-1")),
                                range(10)))  # fmt: skip
    # Then all get the one answer of the one checkout that happened
    assert [reply.status for reply in replies] == [200] * 10
    assert all(reply.body == replies[0].body for reply in replies)
    assert sum("Idempotent-Replayed" not in reply.headers for reply in replies) == 1
    assert replies[0].body["state"] == "pending"


def test_a_flushed_redis_does_not_make_a_retry_a_second_effect(
    service: Service, database_url: str, stores: dict[str, str]
) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    first = _add(service, reservation, "key-3")
    redis.Redis.from_url(stores["REDIS_URL"]).flushdb()
    again = _add(service, reservation, "key-3")
    assert (again.status, again.body, again.headers.get("Idempotent-Replayed")) == (200, first.body, "true")
    assert _items(database_url) == 1


def test_a_refused_request_keeps_no_record_so_its_key_is_free(service: Service, database_url: str) -> None:
    # Given a request with a key that is refused (the reservation is not known yet)
    reservation = reservation_created()
    refused = _add(service, reservation, "key-4")
    assert (refused.status, refused.error) == (400, "Reservation not found")
    with psycopg.connect(database_url) as connection:
        assert connection.execute("SELECT count(*) FROM bc_ordering.idempotency_records").fetchone() == (0,)
    # When the reservation arrives and the client retries with the same key, it is done
    service.publish("reservation-created", reservation)
    assert _add(service, reservation, "key-4").status == 200


def test_a_malformed_key_is_a_400(service: Service) -> None:
    reservation = reservation_created()
    service.publish("reservation-created", reservation)
    reply = _add(service, reservation, "x" * 300)
    assert (reply.status, reply.error) == (400, "Header 'Idempotency-Key' must be 1 to 255 visible ASCII characters")


def test_the_waitlist_service_may_send_keys_too(service: Service) -> None:
    body = {"seatId": str(uuid.uuid4()), "price": 0, "guestToken": "w@example.com"}
    headers = {"Idempotency-Key": "waitlist-1"}
    first = service.post("/orders/waitlist", body, headers=headers, api="internal")
    again = service.post("/orders/waitlist", body, headers=headers, api="internal")
    assert (first.status, again.status, again.body) == (201, 201, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert json.dumps(first.body).count("orderId") == 1


def test_a_connection_lost_inside_a_keyed_request_never_commits_half(service: Service, database_url: str) -> None:
    # Given a keyed request whose record was claimed, and whose effect ran, in one transaction
    import time

    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    from ordering.domain.errors import ServiceUnavailable
    from ordering.http.idempotency import _store
    from ordering.store.db import discard_connection, session

    discard_connection()
    store = _store()
    record = DataRecord("ordering#lost", status="INPROGRESS", expiry_timestamp=int(time.time()) + 60)
    store._put_record(record)
    with session() as connection:
        connection.execute(
            "INSERT INTO bc_ordering.dead_letters (topic, kafka_partition, kafka_offset, reason)"
            " VALUES ('t', 0, 1, 'x')"
        )
        pid = connection.info.backend_pid
    # When the database closes the connection before the answer is kept (a failover)
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            time.sleep(0.05)
    # Then keeping the answer fails (a 503, the client retries) instead of reconnecting, and
    # neither the record nor the effect exists: the retry will do both, once
    try:
        store._update_record(DataRecord("ordering#lost", status="COMPLETED", expiry_timestamp=record.expiry_timestamp,
                                        response_data="{}"))  # fmt: skip
        raise AssertionError("the answer was kept on a connection outside the transaction")
    except ServiceUnavailable:
        pass
    with psycopg.connect(database_url) as connection:
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM bc_ordering.idempotency_records),"
            " (SELECT count(*) FROM bc_ordering.dead_letters)"
        ).fetchone()
    assert counts == (0, 0)


def _all_text(database_url: str, table: str) -> str:
    """Every row of a table, as text: what anyone who reads it sees."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(f"SELECT * FROM bc_ordering.{table}").fetchall()  # noqa: S608
    return repr(rows)


def test_a_replayed_answer_echoes_the_bearer_secret_from_the_retry_never_from_storage(
    service: Service, database_url: str
) -> None:
    # Given a guest and a browser (anonymous id), each adding a seat with an Idempotency-Key
    guest, browser = "guest-secret-5f1c", str(uuid.uuid4())
    seats = {who: reservation_created(customer=who) for who in (guest, browser)}
    service.publish("reservation-created", *seats.values())

    def add(who: str) -> Reply:
        identity = {"guestToken": who} if who == guest else {"userId": who}
        r = seats[who]
        body = {"reservationId": r["reservationId"], "seatId": r["seatId"], "price": 50.00, **identity}
        return service.post("/cart/add", body, {"Idempotency-Key": f"key-{who}"})

    # When each request is sent, then retried with the same key
    first = {who: add(who) for who in seats}
    again = {who: add(who) for who in seats}

    # Then each retry gets the first answer, with its own secret echoed as the contract shows it
    assert first[guest].body["guestToken"] == guest
    assert first[browser].body["userId"] == browser
    for who in seats:
        assert (again[who].status, again[who].body) == (200, first[who].body)
        assert again[who].headers["Idempotent-Replayed"] == "true"
    # and the records kept to replay them hold neither secret
    kept = _all_text(database_url, "idempotency_records")
    assert "COMPLETED" in kept
    assert guest not in kept
    assert browser not in kept
