"""Keep records that can never succeed, for a person to inspect."""

from __future__ import annotations

from collections.abc import Sequence

from ordering.store import ledger
from ordering.store.db import session
from ordering.store.ledger import DeadLetter


def keep_dead_letters(letters: Sequence[DeadLetter]) -> None:
    with session() as connection, connection.cursor() as cursor:
        ledger.record_dead_letters(cursor, letters)
