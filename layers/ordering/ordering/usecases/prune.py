"""Nothing grows forever: the ledger, reservations, dead letters and abandoned carts are pruned."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from ordering.store.db import session
from ordering.store.pruning import KINDS, prune_batch
from ordering.usecases.clock import utc_now

BATCH = 1000


def prune(
    retention: Mapping[str, timedelta], *, now: datetime | None = None, time_budget_s: float = 60.0
) -> dict[str, int]:
    """Delete, kind by kind and a batch at a time, what is older than its retention; stops when
    the time budget is spent (the next run goes on). Returns how many rows of each kind went."""
    now = now or utc_now()
    stop_at = time.monotonic() + time_budget_s
    deleted = dict.fromkeys(KINDS, 0)
    for kind in KINDS:
        while time.monotonic() < stop_at:
            with session() as connection:
                gone = prune_batch(connection, kind, now - retention[kind], BATCH)
            deleted[kind] += gone
            if gone < BATCH:
                break
    return deleted
