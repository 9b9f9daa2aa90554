"""The copy of the Catalog's seat prices: refreshed whole on a schedule (CatalogSyncFunction), and
for one seat on a miss, within the budget of the request that missed it.

A miss reads the events the copy does not hold yet first (a new event is the usual cause), and
stops as soon as the seat is found. A crowd of requests missing at once (an on-sale of an event
published minutes ago) makes one refresh at a time: the first takes a lease in the database,
the others wait for the copy to fill in, and one whose seat that refresh did not bring takes
the lease in turn. A seat is unknown only once a refresh of this request's own read every seat
map without finding it; a Catalog that cannot tell in time is a 503.

Every write here commits by itself (db.autocommit_session): the copy is the Catalog's, not the
request's, and an Idempotency-Key's transaction must neither roll it back nor hold its rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import psycopg

from ordering import catalog
from ordering.catalog import CatalogUnavailable, Seatmap
from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable
from ordering.observability import logger
from ordering.store import seat_prices
from ordering.store.db import autocommit_session, invocation_ends
from ordering.usecases.clock import utc_now

# seat maps read at once
PARALLEL = 8
# how often a request waiting on another's refresh looks at the copy again
POLL_S = 0.1
# what a request keeps of its time for what follows a refresh on a miss
AFTER_REFRESH_S = 1.0


@dataclass(frozen=True, slots=True)
class Refreshed:
    events: int
    seats: int
    complete: bool  # every event the Catalog lists was read and kept


@dataclass(frozen=True, slots=True)
class _Read:
    events: int
    seats: int
    found: Decimal | None
    complete: bool


def _read(event_ids: Iterable[UUID], deadline: float, *, looking_for: UUID | None = None) -> _Read:
    """Read and keep the seat maps of `event_ids`, PARALLEL at a time, until the deadline; stop
    early once `looking_for` is found. A seat map the Catalog fails to give, or that cannot be
    kept, leaves the read incomplete and the others go on."""
    pending = list(event_ids)
    events = seats = 0
    found: Decimal | None = None
    complete = True
    now = utc_now()
    # not a `with` block: leaving it would wait for the reads still running past the deadline
    pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="catalog")
    running: set[Future[Seatmap]] = set()
    try:
        while (pending or running) and found is None:
            while pending and len(running) < PARALLEL:
                running.add(pool.submit(catalog.seatmap, pending.pop(0), deadline))
            done, running = wait(running, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done or time.monotonic() > deadline:  # out of time: what is still running is left
                complete = False
                break
            for future in done:
                try:
                    seatmap = future.result()
                    with autocommit_session() as connection:
                        seat_prices.keep_seatmap(connection, seatmap.event_id, seatmap.event_name, seatmap.seats, now)
                except (CatalogUnavailable, psycopg.DataError, psycopg.IntegrityError) as exc:
                    logger.warning("a catalog seat map was not kept", reason=f"{type(exc).__name__}: {exc}")
                    complete = False
                    continue
                events, seats = events + 1, seats + len(seatmap.seats)
                if looking_for is not None and found is None:
                    found = next((s.price for s in seatmap.seats if s.seat_id == looking_for), None)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return _Read(events, seats, found, complete and not pending and not running)


def refresh_all(deadline: float) -> Refreshed:
    """Read every event's seat map into the copy (the schedule's run)."""
    read = _read(catalog.event_ids(deadline), deadline)
    if read.complete:
        with autocommit_session() as connection:
            seat_prices.refreshed(connection, utc_now())
    return Refreshed(read.events, read.seats, read.complete)


def price_after_refresh(seat_id: UUID) -> Decimal | None:
    """The seat's price once the copy was refreshed for it, or None when the Catalog does not
    know the seat. ServiceUnavailable when the Catalog cannot tell within the request's budget."""
    config = settings()
    deadline = time.monotonic() + config.catalog_miss_budget_s
    ends = invocation_ends()
    if ends is not None:  # and time left after it to put the seat in the cart and answer
        deadline = min(deadline, ends - AFTER_REFRESH_S)
    lease = timedelta(seconds=config.catalog_miss_budget_s + 1)
    me = uuid.uuid4()
    while time.monotonic() < deadline:
        with autocommit_session() as connection:
            leased = seat_prices.lease_refresh(connection, me, utc_now(), lease)
        if leased:
            return _refresh_for(seat_id, me, deadline)
        price = _wait_for_refresh(seat_id, deadline)
        if price is not None:
            return price
        # that refresh ended without this seat (it stopped at its own, or failed): take the lease
    raise ServiceUnavailable("catalog: the seat's price could not be learnt in time")


def _refresh_for(seat_id: UUID, me: UUID, deadline: float) -> Decimal | None:
    try:
        with autocommit_session() as connection:
            known = seat_prices.known_events(connection)
        listed = catalog.event_ids(deadline)
        new_first = [e for e in listed if e not in known] + [e for e in listed if e in known]
        read = _read(new_first, deadline, looking_for=seat_id)
    except CatalogUnavailable as exc:
        raise ServiceUnavailable(f"catalog: {exc}") from exc
    finally:
        with autocommit_session() as connection:
            seat_prices.end_lease(connection, me)
    if read.found is None and not read.complete:
        raise ServiceUnavailable("catalog: not every seat map could be read in time")
    return read.found


def _wait_for_refresh(seat_id: UUID, deadline: float) -> Decimal | None:
    """Another request is refreshing the copy: wait until the seat appears in it (its price), or
    that refresh ends without it (None)."""
    while True:
        with autocommit_session() as connection:
            price, under_way = seat_prices.waiting_on(connection, seat_id, utc_now())
        if price is not None or not under_way:
            return price
        if time.monotonic() + POLL_S > deadline:
            raise ServiceUnavailable("catalog: a refresh under way did not end in time")
        time.sleep(POLL_S)
