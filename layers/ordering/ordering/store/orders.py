"""Orders in PostgreSQL. Each use case is one or two statements, pipelined in one round trip.

A statement that changes an order checks its guards itself and returns, in the same round trip,
which of them held, in columns named as the fields of domain/rules.py's guards: a refusal is told
from what the statement saw, never from a second read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

from ordering.domain.identity import ANONYMOUS, GUEST, Caller
from ordering.domain.order import CANCELLABLE, CHECKOUT_FROM, Order, OrderItem, OrderState
from ordering.domain.reservation import Reservation
from ordering.domain.rules import AddToCartGuards, CancelGuards, CheckoutGuards, Guarded, ReservationGuards

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# The columns of an order, then of an item, as every statement here returns an order: one row
# per item (or one row with null item columns when empty), and the concert of each item where
# it is known (its own, or its reservation's), by the names order_from_rows reads.
_ORDER_COLUMNS = (
    "id",
    "owner_key",
    "user_id",
    "customer_email",
    "state",
    "total_amount",
    "created_at",
    "paid_at",
    "origin",
)
_ITEM_COLUMNS = "i.id AS item_id, i.seat_id, i.price, i.reservation_id, i.seat_number, i.section"


def literals(*states: OrderState) -> str:
    """States as SQL literals, for a statement's text: the domain's enum values are code, never
    input, and a literal keeps the plans a parameter could miss (a partial index on a state)."""
    return ", ".join(sorted(f"'{state.value}'" for state in states))


_DRAFT, _PENDING, _CANCELLED = (
    literals(OrderState.DRAFT),
    literals(OrderState.PENDING),
    literals(OrderState.CANCELLED),
)


def _order_columns(alias: str, **instead: str) -> str:
    """The order's columns as `alias` has them, but those named in `instead`, each an expression."""
    return ", ".join(f"{instead[c]} AS {c}" if c in instead else f"{alias}.{c}" for c in _ORDER_COLUMNS)


_ORDER_ROWS = (
    f"SELECT {_order_columns('o')}, {_ITEM_COLUMNS},"
    " coalesce(i.concert_event_id, r.concert_event_id) AS concert_event_id"
    " FROM bc_ordering.orders o LEFT JOIN bc_ordering.order_items i ON i.order_id = o.id"
    " LEFT JOIN bc_ordering.reservations r ON r.id = i.reservation_id"
)
# The order columns, as the statements that change an order return them.
_RETURNED_ORDER = _order_columns("o")
_ORDER_BY_ID = _ORDER_ROWS + " WHERE o.id = %s ORDER BY i.created_at, i.id"
# The same columns of an order a CTE named `m` changed, which also returns its new version.
_CHANGED_ORDER = _order_columns("m")


def _rows(connection: psycopg.Connection[Any], statement: str, params: Sequence[Any] | dict[str, Any]) -> list[DictRow]:
    return connection.cursor(row_factory=dict_row).execute(statement, params).fetchall()


def order_from_rows(rows: Sequence[DictRow]) -> Order | None:
    """The order of the rows, None when there are none or their order columns are null (a guarded
    statement that changed nothing)."""
    if not rows or rows[0]["id"] is None:
        return None
    first = rows[0]
    items = tuple(
        OrderItem(
            id=row["item_id"],
            seat_id=row["seat_id"],
            price=row["price"],
            reservation_id=row["reservation_id"],
            seat_number=row["seat_number"],
            section=row["section"],
            concert_event_id=row.get("concert_event_id"),
        )
        for row in rows
        if row["item_id"] is not None
    )
    return Order(
        id=first["id"],
        owner_key=first["owner_key"],
        user_id=first["user_id"],
        customer_email=first["customer_email"],
        state=OrderState(first["state"]),
        total_amount=first["total_amount"],
        created_at=first["created_at"],
        paid_at=first["paid_at"],
        origin=first["origin"],
        items=items,
    )


def _named[D: DataclassInstance](kind: type[D], row: DictRow) -> D:
    """The dataclass of the row's columns named as its fields (the row may hold others)."""
    return kind(**{field.name: row[field.name] for field in fields(kind)})


# Whether the caller owns the order `o`: a cart by its one identity, a waitlist order by its email
# (identity.Caller.owns); false for a caller with neither. Its parameters: _owner_keys.
_OWNED = "(o.owner_key = CASE o.origin WHEN 'waitlist' THEN %(email_owner_key)s ELSE %(owner_key)s END) IS TRUE"


def _owner_keys(caller: Caller) -> dict[str, Any]:
    return {"owner_key": caller.owner_key, "email_owner_key": caller.email_owner_key}


def _owner_columns(caller: Caller) -> dict[str, Any]:
    """The owner columns of an order the caller creates: exactly one is set (orders_one_owner),
    and bearer secrets only as their hash."""
    kind, customer_hash = caller.kind, caller.customer_hash
    return {
        "user_id": caller.user_id,
        "guest_token_hash": customer_hash if kind == GUEST else None,
        "anonymous_id_hash": customer_hash if kind == ANONYMOUS else None,
    }


def find(connection: psycopg.Connection[Any], order_id: UUID) -> Order | None:
    return order_from_rows(_rows(connection, _ORDER_BY_ID, (order_id,)))


# The live order holding the seat, as a statement's snapshot has it: one that commits after the
# snapshot makes the item's insert violate order_items_seat_in_one_live_order instead (SeatTaken).
_SEAT_HOLDER = """
    FROM bc_ordering.order_items i JOIN bc_ordering.orders o ON o.id = i.order_id
    WHERE i.seat_id = %(seat_id)s AND i.order_live"""

# Creates the caller's draft or locks the existing one (at most one per owner, by index),
# bumps its total and seat count unless it is full, adds the item, and returns which guards held
# (rules.AddToCartGuards) with the cart and all its items: all or nothing, in one statement. The
# reservation is checked again here, in the source of truth, whatever the cache said:
# - `customers`: a user id seen signed in is claimed by its token alone (rules.ReservationGuards);
# - `seat_price`: Inventory's when it sent one, else the Catalog's copy's when prices are verified
#   (null while the copy does not know the seat), else the price asked;
# - FOR SHARE waits for a concurrent expiry of this reservation to commit, then computes the flags
#   from the expired version (READ COMMITTED reads the newest version of a row it waited for);
# - `guards` is one row, the reservation found or not (a missing one holds no guard);
# - the ON CONFLICT predicate is orders_one_draft_per_owner's as its migration spells it (the
#   schema's, not a domain list): ON CONFLICT infers the partial index only from a WHERE that
#   implies it;
# - `under_event_limit`: the seats of the seat's event (the Catalog copy's, or a waitlist item's)
#   in the owner's live orders number fewer than the limit; counted from the statement's snapshot,
#   so the statement runs after `_CUSTOMERS_TURN` (add_item);
# - `has_room`: whether the cart took the seat (its upsert returns no row for a full cart).
# No comment inside the text: psycopg caches the parsing of a statement of 4 KB at most, and
# parsing this one anew cost add-to-cart ~0.15 ms of CPU a request (make bench).
_ADD_ITEM = f"""
WITH reservation AS (
    SELECT r.id, r.seat_number, r.section, r.status,
           r.seat_id = %(seat_id)s AS for_the_seat,
           r.customer_hash = %(customer_hash)s AND (%(signed_in)s OR NOT EXISTS (
               SELECT 1 FROM bc_ordering.known_users k WHERE k.user_hash = %(customer_hash)s)) AS customers,
           r.status <> 'expired' AND r.expires_at > %(now)s AS not_expired,
           r.status = 'active' AS active,
           coalesce(nullif(r.base_price, 0), CASE WHEN %(verify_prices)s
               THEN (SELECT p.price FROM bc_ordering.seat_prices p WHERE p.seat_id = %(seat_id)s)
               ELSE %(price)s END) AS seat_price
    FROM bc_ordering.reservations r WHERE r.id = %(reservation_id)s
    FOR SHARE
), holder AS (
    SELECT o.state = {_DRAFT} AND o.owner_key = %(owner_key)s AS my_cart {_SEAT_HOLDER}
), event_seats AS (
    SELECT NOT %(limit_event)s OR count(*) < %(max_seats_per_event)s AS under_limit
    FROM bc_ordering.orders o JOIN bc_ordering.order_items i ON i.order_id = o.id
    LEFT JOIN bc_ordering.seat_prices p ON p.seat_id = i.seat_id
    WHERE %(limit_event)s AND o.owner_key = %(owner_key)s AND o.live AND coalesce(i.concert_event_id, p.event_id) =
        (SELECT event_id FROM bc_ordering.seat_prices WHERE seat_id = %(seat_id)s)
), guards AS (
    SELECT r.id IS NOT NULL AS found, r.for_the_seat IS TRUE AS for_the_seat, r.customers IS TRUE AS customers,
           r.not_expired IS TRUE AS not_expired, r.active IS TRUE AS active, coalesce(r.status, '') AS status,
           r.seat_price IS NOT NULL AS price_known, (r.seat_price = %(price)s) IS TRUE AS price_matches,
           NOT EXISTS (SELECT 1 FROM holder WHERE my_cart) AS not_in_cart,
           NOT EXISTS (SELECT 1 FROM holder WHERE NOT my_cart) AS in_no_other_order,
           (SELECT under_limit FROM event_seats) AS under_event_limit, r.id AS reservation_id, r.seat_number, r.section
    FROM (SELECT 1) AS one LEFT JOIN reservation r ON true
), cart AS (
    INSERT INTO bc_ordering.orders AS o
        (id, user_id, guest_token_hash, anonymous_id_hash, customer_email, state, total_amount, item_count,
         created_at, updated_at)
    SELECT %(order_id)s, %(user_id)s, %(guest_token_hash)s, %(anonymous_id_hash)s, %(customer_email)s, {_DRAFT},
           %(price)s, 1, %(now)s, %(now)s
    FROM guards
    WHERE found AND for_the_seat AND customers AND not_expired AND active AND price_known AND price_matches
      AND not_in_cart AND in_no_other_order AND under_event_limit
    ON CONFLICT (owner_key) WHERE state = 'draft' DO UPDATE
        SET total_amount = o.total_amount + EXCLUDED.total_amount,
            item_count = o.item_count + 1,
            updated_at = EXCLUDED.updated_at
        WHERE o.item_count < %(max_seats)s
    RETURNING {_RETURNED_ORDER}
), item AS (
    INSERT INTO bc_ordering.order_items
        (id, order_id, order_live, seat_id, price, reservation_id, seat_number, section, created_at)
    SELECT %(item_id)s, cart.id, true, %(seat_id)s, %(price)s, g.reservation_id, g.seat_number, g.section, %(now)s
    FROM cart CROSS JOIN guards g
    RETURNING id, order_id, seat_id, price, reservation_id, seat_number, section, created_at
)
SELECT g.found, g.for_the_seat, g.customers, g.not_expired, g.active, g.status, g.price_known, g.price_matches,
       g.not_in_cart, g.in_no_other_order, g.under_event_limit, c.id IS NOT NULL AS has_room, c.*, {_ITEM_COLUMNS}
FROM guards g LEFT JOIN cart c ON true LEFT JOIN (
    SELECT id, order_id, seat_id, price, reservation_id, seat_number, section, created_at
    FROM bc_ordering.order_items WHERE order_id = (SELECT id FROM cart)
    UNION ALL
    SELECT * FROM item
) i ON i.order_id = c.id
ORDER BY i.created_at, i.id
"""


def _consistent(order: Order | None, connection: psycopg.Connection[Any]) -> Order | None:
    """The order as one statement returned it, or read again if its items miss one.

    A statement sees the items committed before it began; when it waited for the order's row
    lock behind a concurrent change of the same order, the total it returns (from the locked
    row) is newer than the items it read. Rare, and then a second read is exact."""
    if order is None or sum(item.price for item in order.items) == order.total_amount:
        return order
    return find(connection, order.id)


class SeatTaken(Exception):
    """The seat is in a non-cancelled order already (the unique index said so)."""


# The owner's row of bc_ordering.customer_turns, locked until the transaction ends (its migration
# says why a row and not an advisory lock). Many customers share a row at an on-sale's scale, but
# two meet only when they add at the same moment, and then one waits for the other's statement.
_CUSTOMERS_TURN = "SELECT 1 FROM bc_ordering.customer_turns WHERE slot = hashtext(%s) & 65535 FOR UPDATE"


def _in_the_customers_turn(
    connection: psycopg.Connection[Any], owner_key: str, statement: str, params: dict[str, Any]
) -> list[DictRow]:
    """The rows of the statement, run once the owner's turn is locked, in one transaction and one
    round trip (pipelined): under READ COMMITTED its snapshot, taken after the lock was granted,
    holds every seat an earlier add of the same owner committed. Inside a transaction (an
    Idempotency-Key's), under a savepoint; the lock then lasts as long as that transaction."""
    nested = connection.info.transaction_status == TransactionStatus.INTRANS
    begin, end, undo = (
        ("SAVEPOINT customers_turn", "RELEASE SAVEPOINT customers_turn", "ROLLBACK TO SAVEPOINT customers_turn")
        if nested
        else ("BEGIN", "COMMIT", "ROLLBACK")
    )
    with connection.cursor() as control, connection.cursor(row_factory=dict_row) as placing:
        try:
            with connection.pipeline():  # sent, and its results read, as the block ends
                control.execute(begin)
                control.execute(_CUSTOMERS_TURN, (owner_key,))
                placing.execute(statement, params)
                control.execute(end)
            return placing.fetchall()
        except BaseException:
            if connection.info.transaction_status == TransactionStatus.INERROR:
                connection.execute(undo)
            raise


def _placing_a_seat(
    connection: psycopg.Connection[Any], statement: str, params: dict[str, Any], *, in_turn_of: str | None = None
) -> list[DictRow]:
    """The rows of a statement that puts a seat in an order; SeatTaken when it is in one already.
    Inside a transaction (an Idempotency-Key's), under a savepoint, so that the refusal leaves the
    transaction usable for the attempt that follows. `in_turn_of`: the owner whose turn it runs in
    (a statement that counts what the owner holds)."""
    try:
        if in_turn_of is not None:
            return _in_the_customers_turn(connection, in_turn_of, statement, params)
        if connection.info.transaction_status == TransactionStatus.INTRANS:
            with connection.transaction():
                return _rows(connection, statement, params)
        return _rows(connection, statement, params)
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "order_items_seat_in_one_live_order":
            raise SeatTaken() from exc
        raise


def add_item(
    connection: psycopg.Connection[Any],
    *,
    caller: Caller,
    reservation: Reservation,
    price: Decimal,
    max_seats: int,
    max_seats_per_event: int,
    order_id: UUID,
    item_id: UUID,
    now: datetime,
    verify_prices: bool,
) -> Guarded[AddToCartGuards]:
    """Add-to-cart's guards as the statement saw them, and the cart it added the seat to (if it
    did). Raises SeatTaken when an order that holds the seat committed after it began. The seats
    of an event are counted where the limit is set and the copy of the Catalog's prices (which
    knows each seat's event) is kept, that is where prices are verified."""
    limit_event = verify_prices and max_seats_per_event > 0
    params = {
        "limit_event": limit_event,
        "max_seats_per_event": max_seats_per_event,
        "verify_prices": verify_prices,
        "reservation_id": reservation.id,
        "seat_id": reservation.seat_id,
        "customer_hash": caller.customer_hash,
        "signed_in": caller.user_id is not None,
        "owner_key": caller.owner_key,
        "order_id": order_id,
        **_owner_columns(caller),
        "customer_email": caller.email,
        "price": price,
        "max_seats": max_seats,
        "item_id": item_id,
        "now": now,
    }
    rows = _placing_a_seat(connection, _ADD_ITEM, params, in_turn_of=caller.owner_key if limit_event else None)
    flags = rows[0]
    guards = AddToCartGuards(
        reservation=_named(ReservationGuards, flags),
        price_known=flags["price_known"],
        price_matches=flags["price_matches"],
        not_in_cart=flags["not_in_cart"],
        in_no_other_order=flags["in_no_other_order"],
        under_event_limit=flags["under_event_limit"],
        has_room=flags["has_room"],
        max_seats=max_seats,
        max_seats_per_event=max_seats_per_event,
    )
    return Guarded(guards, _consistent(order_from_rows(rows), connection))


# Moves the order to pending when every guard of checkout holds, and returns which held
# (rules.CheckoutGuards) with the order it moved and its items. Its event goes to the outbox in the
# same statement: published if and only if it committed.
# The order is locked first and the flags computed from the version locked: under READ COMMITTED
# a lock that waited for a concurrent change (a second checkout, an add, a cancel) reads the
# newest committed version, and nothing changes it before this statement commits, so the UPDATE
# acts on exactly what the flags describe (the second of two checkouts finds it pending). Its
# reservations are read as of the statement's start, as the guard always read them.
_CHECKOUT = f"""
WITH target AS (
    SELECT o.id, {_OWNED} AS owned, o.state IN ({literals(*CHECKOUT_FROM)}) AS is_draft, o.item_count > 0 AS has_items,
           NOT EXISTS (
               SELECT 1 FROM bc_ordering.order_items i
               JOIN bc_ordering.reservations r ON r.id = i.reservation_id
               WHERE i.order_id = o.id AND (r.status <> 'active' OR r.expires_at <= %(now)s)) AS reservations_live
    FROM bc_ordering.orders o WHERE o.id = %(order_id)s
    FOR UPDATE
), moved AS (
    UPDATE bc_ordering.orders o SET state = {_PENDING}, updated_at = %(now)s, version = o.version + 1
    FROM target t WHERE o.id = t.id AND t.owned AND t.is_draft AND t.has_items AND t.reservations_live
    RETURNING {_RETURNED_ORDER}, o.version
), event AS (
    INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount, occurred_at)
    SELECT id, version, 'order-checked-out', state, total_amount, %(now)s FROM moved
)
-- one row at least, with the flags (an order not found holds none)
SELECT t.id IS NOT NULL AS found, t.owned IS TRUE AS owned, t.is_draft IS TRUE AS is_draft,
       t.has_items IS TRUE AS has_items, t.reservations_live IS TRUE AS reservations_live,
       {_CHANGED_ORDER}, {_ITEM_COLUMNS}
FROM (SELECT 1) AS one LEFT JOIN target t ON true LEFT JOIN moved m ON true
LEFT JOIN bc_ordering.order_items i ON i.order_id = m.id
ORDER BY i.created_at, i.id
"""


def checkout(
    connection: psycopg.Connection[Any], *, caller: Caller, order_id: UUID, now: datetime
) -> Guarded[CheckoutGuards]:
    """Checkout's guards as the statement saw them, and the order it moved to pending (if it did)."""
    params = {"order_id": order_id, **_owner_keys(caller), "now": now}
    rows = _rows(connection, _CHECKOUT, params)
    return Guarded(_named(CheckoutGuards, rows[0]), _consistent(order_from_rows(rows), connection))


# Cancels the order when it is draft or pending and the caller may cancel it, and returns which
# guards held (rules.CancelGuards) with the order as the statement left it, cancelled now or as it
# was, and its items: an order cancelled already is answered as it is. Its items' `order_live`
# follows by the foreign key, which frees its seats. Locked first, for the reason _CHECKOUT gives;
# the order's columns are the locked version's (a read of the table would see the statement's
# snapshot, older after a wait).
_CANCEL = f"""
WITH target AS (
    SELECT {_order_columns("o")}, %(by_service)s OR {_OWNED} AS owned,
           o.state IN ({literals(*CANCELLABLE)}) AS cancellable
    FROM bc_ordering.orders o WHERE o.id = %(order_id)s
    FOR UPDATE
), cancelled AS (
    UPDATE bc_ordering.orders o
    SET state = {_CANCELLED}, cancel_reason = %(reason)s, cancelled_from = o.state, updated_at = %(now)s,
        version = o.version + 1
    FROM target t WHERE o.id = t.id AND t.owned AND t.cancellable
    RETURNING o.id, o.version, o.state, o.total_amount
), event AS (
    INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount, reason, occurred_at)
    SELECT id, version, 'order-cancelled', state, total_amount, %(reason)s, %(now)s FROM cancelled
)
-- one row at least, with the flags (an order not found holds none)
SELECT t.id IS NOT NULL AS found, t.owned IS TRUE AS owned,
       (t.cancellable OR t.state = {_CANCELLED}) IS TRUE AS may_cancel,
       coalesce(t.state, '') AS state_found,
       {_order_columns("t", state="coalesce(m.state, t.state)")}, {_ITEM_COLUMNS}
FROM (SELECT 1) AS one LEFT JOIN target t ON true LEFT JOIN cancelled m ON true
LEFT JOIN bc_ordering.order_items i ON i.order_id = t.id
ORDER BY i.created_at, i.id
"""


def cancel(
    connection: psycopg.Connection[Any], *, caller: Caller, order_id: UUID, by_service: bool, now: datetime
) -> Guarded[CancelGuards]:
    """Cancel's guards as the statement saw them, and the order as it left it."""
    params = {
        "order_id": order_id,
        **_owner_keys(caller),
        "by_service": by_service,
        "reason": "service" if by_service else "customer",
        "now": now,
    }
    rows = _rows(connection, _CANCEL, params)
    return Guarded(_named(CancelGuards, rows[0]), order_from_rows(rows))


# A waitlist order: placed directly in pending for one seat, with no reservation; checked out
# as it is placed, so its event is the one of a checkout. The Waitlist service sends a price of
# 0 today: with prices verified, the seat then sells at the Catalog's price, and while the copy
# does not know it, nothing is placed unless `free_if_unknown` (asked after a refresh). Nothing is
# placed either when a live order holds the seat: returned instead, with whether it is this
# email's waitlist order for the seat (a retry of the request).
_PLACE_WAITLIST_ORDER = f"""
WITH holder AS (
    SELECT o.id, o.origin = 'waitlist' AND o.owner_key = %(owner_key)s AS same_email {_SEAT_HOLDER}
), priced AS (
    SELECT CASE WHEN %(price)s = 0 AND %(verify_prices)s
                THEN (SELECT p.price FROM bc_ordering.seat_prices p WHERE p.seat_id = %(seat_id)s)
                ELSE %(price)s END AS price
), placed AS (
    INSERT INTO bc_ordering.orders
        (id, guest_token_hash, customer_email, state, origin, total_amount, item_count, created_at, updated_at,
         version)
    SELECT %(order_id)s, %(guest_token_hash)s, %(email)s, {_PENDING}, 'waitlist', coalesce(price, 0), 1, %(now)s,
           %(now)s, 1
    FROM priced WHERE (price IS NOT NULL OR %(free_if_unknown)s) AND NOT EXISTS (SELECT 1 FROM holder)
    RETURNING id, total_amount
), event AS (
    INSERT INTO bc_ordering.outbox (order_id, version, event_type, state, total_amount, occurred_at)
    SELECT id, 1, 'order-checked-out', {_PENDING}, total_amount, %(now)s FROM placed
), item AS (
    INSERT INTO bc_ordering.order_items
        (id, order_id, order_live, order_origin, seat_id, price, concert_event_id, created_at)
    SELECT %(item_id)s, placed.id, true, 'waitlist', %(seat_id)s, placed.total_amount, %(concert_event_id)s, %(now)s
    FROM placed
    RETURNING order_id
)
SELECT (SELECT order_id FROM item) AS placed, h.id AS holder, h.same_email IS TRUE AS held_by_same
FROM (SELECT 1) AS one LEFT JOIN holder h ON true
"""


@dataclass(frozen=True, slots=True)
class WaitlistPlacement:
    """What the statement of a waitlist order did: the order it placed, or the live order that
    holds the seat; neither while the seat's price is to be learnt first."""

    placed: UUID | None
    holder: UUID | None
    held_by_same: bool  # the holder is this email's waitlist order: the request placed it before


def place_waitlist_order(
    connection: psycopg.Connection[Any],
    *,
    caller: Caller,
    seat_id: UUID,
    price: Decimal,
    concert_event_id: UUID | None,
    order_id: UUID,
    item_id: UUID,
    now: datetime,
    verify_prices: bool,
    free_if_unknown: bool,
) -> WaitlistPlacement:
    """Place the order in one statement, or say why not. Raises SeatTaken when an order that
    holds the seat committed after it began."""
    params = {
        "verify_prices": verify_prices,
        "free_if_unknown": free_if_unknown,
        "order_id": order_id,
        "owner_key": caller.owner_key,
        "guest_token_hash": caller.customer_hash,
        "email": caller.email,
        "price": price,
        "item_id": item_id,
        "seat_id": seat_id,
        "concert_event_id": concert_event_id,
        "now": now,
    }
    return _named(WaitlistPlacement, _placing_a_seat(connection, _PLACE_WAITLIST_ORDER, params)[0])


def draft_of(connection: psycopg.Connection[Any], owner_key: str) -> Order | None:
    """The owner's cart (its one draft order), with its items."""
    return order_from_rows(
        _rows(
            connection,
            f"{_ORDER_ROWS} WHERE o.owner_key = %s AND o.state = {_DRAFT} ORDER BY i.created_at, i.id",
            (owner_key,),
        )
    )


# Takes the seat out of the owner's cart under the cart's row lock, and returns the cart with
# the items it keeps (none, when it was the last: the cart stays, empty, at 0.00). The deleted
# item frees the seat at once (order_items_seat_in_one_live_order).
_REMOVE_ITEM = f"""
WITH cart AS (
    SELECT id FROM bc_ordering.orders WHERE owner_key = %(owner_key)s AND state = {_DRAFT} FOR UPDATE
), removed AS (
    DELETE FROM bc_ordering.order_items i USING cart
    WHERE i.order_id = cart.id AND i.seat_id = %(seat_id)s
    RETURNING i.id, i.order_id, i.price
), cart_after AS (
    UPDATE bc_ordering.orders o
    SET total_amount = o.total_amount - r.price, item_count = o.item_count - 1, updated_at = %(now)s
    FROM removed r WHERE o.id = r.order_id
    RETURNING {_RETURNED_ORDER}
)
SELECT c.*, {_ITEM_COLUMNS}
FROM cart_after c
LEFT JOIN bc_ordering.order_items i ON i.order_id = c.id AND i.id NOT IN (SELECT id FROM removed)
ORDER BY i.created_at, i.id
"""


def remove_item(connection: psycopg.Connection[Any], *, owner_key: str, seat_id: UUID, now: datetime) -> Order | None:
    """The cart without the seat, or None when the seat is not in the owner's cart."""
    params = {"owner_key": owner_key, "seat_id": seat_id, "now": now}
    return order_from_rows(_rows(connection, _REMOVE_ITEM, params))


def orders_from_rows(rows: Sequence[DictRow]) -> list[Order]:
    """Orders of rows as _ORDER_ROWS returns them, one order's rows together, in their order."""
    grouped: dict[UUID, list[DictRow]] = {}
    for row in rows:
        grouped.setdefault(row["id"], []).append(row)
    return [order for group in grouped.values() if (order := order_from_rows(group)) is not None]


# One page of the owner's orders, newest first, after the keyset position (created_at, id) of the
# last order of the previous page; one more than asked, to tell whether a next page exists.
_PAGE = (
    "WITH page AS ("
    " SELECT id FROM bc_ordering.orders"
    # a waitlist order is owned by an email, which lists nothing (identity.Caller.owns)
    " WHERE owner_key = %(owner_key)s AND origin = 'cart'"
    "   AND (%(after_created_at)s::timestamptz IS NULL OR (created_at, id) < (%(after_created_at)s, %(after_id)s))"
    " ORDER BY created_at DESC, id DESC LIMIT %(limit)s)"
    + _ORDER_ROWS
    + " WHERE o.id IN (SELECT id FROM page) ORDER BY o.created_at DESC, o.id DESC, i.created_at, i.id"
)


def page_of(
    connection: psycopg.Connection[Any],
    *,
    owner_key: str,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Order]:
    """Up to `limit` orders of the owner, newest first, after the keyset position `after`."""
    params = {
        "owner_key": owner_key,
        "after_created_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": limit,
    }
    return orders_from_rows(_rows(connection, _PAGE, params))
