"""The platform's Catalog service, which owns every seat's price: `GET /events` lists the events,
`GET /events/{id}/seatmap` gives one event's seats with their prices. urllib3 speaks HTTP here:
a pool kept per execution environment, a timeout on every attempt, retries with backoff on
connection errors and 5xx, and never a wait past the deadline the caller gives (a request's own
budget, or the scheduled refresh's)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Annotated, Any
from uuid import UUID

import urllib3
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from urllib3.util import Retry, Timeout

from ordering import jsonio
from ordering.config import settings
from ordering.domain.pricing import SeatPrice, seat_price
from ordering.observability import logger

# what one answer may weigh: a stadium's seat map (60,000 seats) is about 9 MB
MAX_ANSWER_BYTES = 32 * 1024 * 1024
# retries after the first attempt, and what they wait (urllib3: 0, then 0.2 s)
RETRIES, BACKOFF_S, WORST_BACKOFF_S = 2, 0.1, 0.3
# no attempt starts with less time than this left
MIN_ATTEMPT_S = 0.05


class CatalogUnavailable(Exception):
    """The Catalog did not answer, or not in time, or not as its contract says."""


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Event(_Document):
    id: UUID


def _text(limit: int) -> Any:
    """A descriptive string of the Catalog's, kept as the columns can hold it: no NUL (PostgreSQL
    text holds none), at most `limit` characters; anything else is no text (None)."""

    def kept(value: Any) -> str | None:
        return value.replace("\x00", "")[:limit] if isinstance(value, str) else None

    return BeforeValidator(kept)


class _Seat(_Document):
    id: UUID
    sectionCode: Annotated[str | None, _text(64)] = None
    price: Decimal | None = None


class _Seatmap(_Document):
    eventId: UUID
    eventName: Annotated[str | None, _text(256)] = None
    basePrice: Decimal | None = None
    seats: list[Any] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Seatmap:
    event_id: UUID
    event_name: str | None
    seats: list[SeatPrice]


@cache
def _pool() -> urllib3.PoolManager:
    """The execution environment's connections to the Catalog, made on first use."""
    return urllib3.PoolManager(num_pools=2, maxsize=8, block=False)


def _get(path: str, deadline: float) -> Any:
    """The JSON answer to GET `path` (numbers as Decimal), or CatalogUnavailable."""
    base = settings().catalog_url
    if base is None:
        raise CatalogUnavailable("no CATALOG_URL")
    left = deadline - time.monotonic() - WORST_BACKOFF_S
    per_attempt = min(settings().catalog_timeout_s, left / (RETRIES + 1))
    if per_attempt < MIN_ATTEMPT_S:
        raise CatalogUnavailable("no time left to ask the Catalog")
    retries = Retry(
        total=RETRIES,
        backoff_factor=BACKOFF_S,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        # a Retry-After of minutes would outlive the request; the schedule asks again anyway
        respect_retry_after_header=False,
        redirect=0,
    )
    try:
        response = _pool().request(
            "GET",
            base.rstrip("/") + path,
            headers={"Accept": "application/json"},
            # connect and the answer's headers together within the attempt's share
            timeout=Timeout(total=per_attempt),
            retries=retries,
            preload_content=False,
        )
    except urllib3.exceptions.HTTPError as exc:
        raise CatalogUnavailable(f"GET {path}: {type(exc).__name__}") from None
    try:
        if response.status != 200:
            raise CatalogUnavailable(f"GET {path}: HTTP {response.status}")
        return _document(response, path, deadline)
    except urllib3.exceptions.HTTPError as exc:
        raise CatalogUnavailable(f"GET {path}: {type(exc).__name__}") from None
    finally:
        response.release_conn()


def _document(response: urllib3.BaseHTTPResponse, path: str, deadline: float) -> Any:
    """The answer's JSON, its body read a chunk at a time: a Catalog trickling a large seat map
    is given up on at the deadline, not only when one read waits too long."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.stream(64 * 1024, decode_content=True):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise CatalogUnavailable(f"GET {path}: answer over {MAX_ANSWER_BYTES} bytes")
        if time.monotonic() > deadline:
            raise CatalogUnavailable(f"GET {path}: the answer did not end in time")
        chunks.append(chunk)
    try:
        return jsonio.loads(b"".join(chunks))
    except ValueError:
        raise CatalogUnavailable(f"GET {path}: not JSON") from None


def event_ids(deadline: float) -> list[UUID]:
    """The ids of the events the Catalog lists."""
    document = _get("/events", deadline)
    if not isinstance(document, list):
        raise CatalogUnavailable("GET /events: not a list")
    found: list[UUID] = []
    for entry in document:
        try:
            found.append(_Event.model_validate(entry).id)
        except ValidationError:
            logger.warning("catalog event without a UUID id ignored")
    return found


def seatmap(event_id: UUID, deadline: float) -> Seatmap:
    """One event's seats, each with the price it sells at; a seat the Catalog gives no usable
    price (none, zero, more than two places) is left out: its price is unknown."""
    try:
        document = _Seatmap.model_validate(_get(f"/events/{event_id}/seatmap", deadline))
    except ValidationError as exc:
        raise CatalogUnavailable(f"seat map of {event_id}: {exc.errors()[0]['type']}") from None
    seats: list[SeatPrice] = []
    for entry in document.seats:
        try:
            seat = _Seat.model_validate(entry)
        except ValidationError:
            continue
        priced = seat_price(seat.id, document.eventId, seat.sectionCode, seat.price, document.basePrice)
        if priced is not None:
            seats.append(priced)
    return Seatmap(document.eventId, document.eventName, seats)


def forget() -> None:
    """Drop the environment's connections to the Catalog (after a SnapStart restore)."""
    _pool.cache_clear()
