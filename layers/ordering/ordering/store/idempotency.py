"""A persistence layer of Powertools' idempotency utility on PostgreSQL, whose records share the
transaction of the request's effect.

Powertools saves the record in progress, runs the request, then saves its answer (or deletes
the record if it raised). Here the first opens a transaction on the execution environment's
connection and inserts the record, the request's statements run inside that transaction, and
the answer's update commits it (a failure rolls it all back). So the record and the effect
commit together or not at all: a flushed cache or a function that dies between them can never
leave an effect without its record, nor a record without its effect. A concurrent request with
the same key waits on the record's primary key until the first commits, then gets its answer.
"""

from __future__ import annotations

import time

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row

from ordering.domain.errors import ServiceUnavailable
from ordering.store.db import hold_transaction, rollback_if_open, session

_CLAIM = """
INSERT INTO bc_ordering.idempotency_records AS r
    (id, status, expiry_timestamp, in_progress_expiry_timestamp, payload_hash)
VALUES (%(id)s, %(status)s, %(expiry)s, %(in_progress_expiry)s, %(payload_hash)s)
-- a record past its expiry is anybody's
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, expiry_timestamp = EXCLUDED.expiry_timestamp,
    in_progress_expiry_timestamp = EXCLUDED.in_progress_expiry_timestamp, payload_hash = EXCLUDED.payload_hash,
    response_data = NULL, created_at = now()
    WHERE r.expiry_timestamp < %(now)s
RETURNING id
"""


class PostgresPersistenceLayer(BasePersistenceLayer):
    def _get_record(self, idempotency_key: str) -> DataRecord:
        with session() as connection:
            record = (
                connection.cursor(row_factory=class_row(DataRecord))
                .execute(
                    "SELECT id AS idempotency_key, status, expiry_timestamp, in_progress_expiry_timestamp,"
                    " response_data, payload_hash"
                    " FROM bc_ordering.idempotency_records WHERE id = %s AND expiry_timestamp >= %s",
                    (idempotency_key, int(time.time())),
                )
                .fetchone()
            )
        if record is None:
            raise IdempotencyItemNotFoundError
        return record

    def _put_record(self, data_record: DataRecord) -> None:
        with session() as connection, connection.cursor() as cursor:
            try:
                # BEGIN travels with the INSERT: one round trip
                with connection.pipeline():
                    connection.execute("BEGIN")
                    cursor.execute(
                        _CLAIM,
                        {
                            "id": data_record.idempotency_key,
                            "status": data_record.status,
                            "expiry": data_record.expiry_timestamp,
                            "in_progress_expiry": data_record.in_progress_expiry_timestamp,
                            "payload_hash": data_record.payload_hash,
                            "now": int(time.time()),
                        },
                    )
                claimed = cursor.fetchone()
            except Exception:
                rollback_if_open()
                raise
            if claimed is None:  # the key is taken: by a committed request (a concurrent one was waited for)
                rollback_if_open()
                raise IdempotencyItemAlreadyExistsError
            hold_transaction(True)

    def _update_record(self, data_record: DataRecord) -> None:
        with session() as connection, connection.cursor() as cursor:
            try:
                if connection.info.transaction_status != TransactionStatus.INTRANS:
                    raise ServiceUnavailable("the request's transaction was lost before its answer was kept")
                with connection.pipeline():  # the answer travels with COMMIT
                    cursor.execute(
                        "UPDATE bc_ordering.idempotency_records SET status = %s, response_data = %s,"
                        " expiry_timestamp = %s WHERE id = %s RETURNING id",
                        (
                            data_record.status,
                            data_record.response_data,
                            data_record.expiry_timestamp,
                            data_record.idempotency_key,
                        ),
                    )
                    connection.execute("COMMIT")
                kept = cursor.fetchone()
            except Exception:
                rollback_if_open()
                raise
            finally:
                hold_transaction(False)
        if kept is None:  # cannot happen inside the transaction that inserted it; never silently
            raise ServiceUnavailable("the idempotency record vanished")

    def _delete_record(self, data_record: DataRecord) -> None:
        # the request failed: its effect and its record go together, on the connection it ran on
        rollback_if_open()
