"""The copy of the Catalog's seat prices: refreshed whole on a schedule (CatalogSyncFunction), and
for one seat on a miss, within the budget of the request that missed it.

A miss reads the events the copy does not hold yet first (a new event is the usual cause), and
stops as soon as the seat is found. A crowd of requests missing at once (an on-sale of an event
published minutes ago) makes one refresh: the first takes a lease in the database, the others
wait for the copy to fill in, within their own budgets."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from ordering import catalog
from ordering.catalog import CatalogUnavailable, Seatmap
from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable
from ordering.observability import logger
from ordering.store import seat_prices
from ordering.store.db import invocation_ends, session
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
    complete: bool  # every event the Catalog lists was read


def _keep(seatmap: Seatmap, now: datetime) -> None:
    with session() as connection:
        seat_prices.keep_seatmap(connection, seatmap.event_id, seatmap.event_name, seatmap.seats, now)


def _read(
    event_ids: Iterable[UUID], deadline: float, *, looking_for: UUID | None = None
) -> tuple[int, int, Decimal | None, bool]:
    """Read and keep the seat maps of `event_ids`, PARALLEL at a time; stop early once
    `looking_for` is found. Returns (events kept, seats kept, its price, every one read)."""
    pending = list(event_ids)
    events = seats = 0
    found: Decimal | None = None
    complete = True
    now = utc_now()
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="catalog") as pool:
        running: set[Future[Seatmap]] = set()
        while pending or running:
            while pending and len(running) < PARALLEL and found is None:
                running.add(pool.submit(catalog.seatmap, pending.pop(0), deadline))
            if not running:
                break
            done, running = wait(running, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done:  # out of time: what is still running is abandoned
                complete = False
                break
            for future in done:
                try:
                    seatmap = future.result()
                except CatalogUnavailable as exc:
                    logger.warning("catalog seat map not read", reason=str(exc))
                    complete = False
                    continue
                _keep(seatmap, now)
                events, seats = events + 1, seats + len(seatmap.seats)
                if looking_for is not None and found is None:
                    found = next((s.price for s in seatmap.seats if s.seat_id == looking_for), None)
        complete = complete and not pending
        pool.shutdown(wait=False, cancel_futures=True)
    return events, seats, found, complete


def refresh_all(deadline: float) -> Refreshed:
    """Read every event's seat map into the copy (the schedule's run)."""
    events = catalog.event_ids(deadline)
    kept, seats, _, complete = _read(events, deadline)
    if complete:
        with session() as connection:
            seat_prices.refreshed(connection, utc_now())
    return Refreshed(kept, seats, complete)


def price_after_refresh(seat_id: UUID, *, now: datetime | None = None) -> Decimal | None:
    """The seat's price once the copy was refreshed for it, or None when the Catalog does not
    know the seat. ServiceUnavailable when the Catalog cannot tell in the request's budget."""
    config = settings()
    deadline = time.monotonic() + config.catalog_miss_budget_s
    ends = invocation_ends()
    if ends is not None:  # and time left after it to put the seat in the cart and answer
        deadline = min(deadline, ends - AFTER_REFRESH_S)
    now = now or utc_now()
    lease = timedelta(seconds=config.catalog_miss_budget_s + 1)
    with session() as connection:
        leased = seat_prices.lease_refresh(connection, now, lease)
    if not leased:
        return _wait_for_refresh(seat_id, deadline)
    try:
        with session() as connection:
            known = seat_prices.known_events(connection)
        listed = catalog.event_ids(deadline)
        new_first = [e for e in listed if e not in known] + [e for e in listed if e in known]
        _, _, price, complete = _read(new_first, deadline, looking_for=seat_id)
    except CatalogUnavailable as exc:
        raise ServiceUnavailable(f"catalog: {exc}") from exc
    finally:
        with session() as connection:
            seat_prices.end_lease(connection)
    if price is None and not complete:
        raise ServiceUnavailable("catalog: not every seat map could be read in time")
    return price


def _wait_for_refresh(seat_id: UUID, deadline: float) -> Decimal | None:
    """Another request is refreshing the copy: wait for the seat to appear in it, or for that
    refresh to end without it."""
    while True:
        with session() as connection:
            price, under_way = seat_prices.waiting_on(connection, seat_id, utc_now())
        if price is not None or not under_way:
            return price
        if time.monotonic() + POLL_S > deadline:
            raise ServiceUnavailable("catalog: a refresh under way did not end in time")
        time.sleep(POLL_S)
