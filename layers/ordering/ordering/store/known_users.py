"""The ids the service has seen as a verified token's `sub` (bc_ordering.known_users): user ids,
which are no secret, so an anonymous id or a guest token equal to one claims none of the
reservations made for it (usecases/add_to_cart.py, rules.check_reservation).

Recording one never costs a round trip: the insert rides along with the request's first
statement (db.ride_along), and each execution environment remembers whom it has recorded, so
a user's later requests carry nothing at all."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ordering.config import Settings, settings
from ordering.domain.identity import secret_hash
from ordering.store.db import ride_along

_RECORD = "INSERT INTO bc_ordering.known_users (user_hash) VALUES (%s) ON CONFLICT DO NOTHING"
# how many recorded users an environment remembers; past that, the oldest is recorded again
# (one index probe riding along with a request), never forgotten by the database
REMEMBERED = 10_000

_lock = threading.Lock()
_recorded: OrderedDict[bytes, None] = OrderedDict()
_recorded_for: Settings | None = None


def _remember(user_hash: bytes) -> None:
    with _lock:
        _recorded[user_hash] = None
        _recorded.move_to_end(user_hash)
        while len(_recorded) > REMEMBERED:
            _recorded.popitem(last=False)


def signed_in(user_id: str) -> None:
    """Note that `user_id` came as a verified token's subject: recorded with the request's first
    statement, unless this environment recorded it already."""
    global _recorded_for  # noqa: PLW0603 - one memory per execution environment
    user_hash = secret_hash(user_id)
    with _lock:
        if _recorded_for is not settings():  # another database, perhaps: start over
            _recorded.clear()
            _recorded_for = settings()
        if user_hash in _recorded:
            _recorded.move_to_end(user_hash)
            return
    ride_along(_RECORD, (user_hash,), lambda: _remember(user_hash))


def forget() -> None:
    """Forget whom this environment recorded (tests that empty the table)."""
    with _lock:
        _recorded.clear()
