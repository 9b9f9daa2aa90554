"""Bring schema bc_ordering up to date (on every deploy, and locally)."""

from __future__ import annotations

import time

from ordering.config import settings
from ordering.domain.errors import ServiceUnavailable
from ordering.observability import logger
from ordering.secrets import secret_json
from ordering.store.db import invocation_ends, session
from ordering.store.migrate import migrate

# the pauses between attempts to reach the database, and the time kept to answer CloudFormation
FIRST_PAUSE_S, LONGEST_PAUSE_S, ANSWER_MARGIN_S = 0.5, 8.0, 5.0


def migrate_schema() -> list[str]:
    """Apply the pending migrations in one transaction, and keep the service's own database
    user (from its secret) able to use the schema; returns the versions applied now."""
    config = settings()
    service_role = None
    if config.service_database_secret_arn is not None:
        secret = secret_json(config.service_database_secret_arn)
        service_role = (str(secret["username"]), str(secret["password"]))
    pause = FIRST_PAUSE_S
    while True:
        try:
            with session() as connection:
                return migrate(
                    connection, statement_timeout_ms=config.db_statement_timeout_ms, service_role=service_role
                )
        except ServiceUnavailable as exc:
            refusal = exc.__cause__
            if refusal is not None and not _not_reached(exc):
                # the database answered and refused a statement (a lock not granted within the
                # lock timeout): another try would queue the live service behind it again
                raise refusal from None
            # a proxy still warming up, a cluster still starting on a first deploy: try again while
            # the deadline leaves time to answer CloudFormation either way
            ends = invocation_ends()
            if ends is None or time.monotonic() + pause + ANSWER_MARGIN_S > ends:
                raise
            logger.warning("the database did not answer; the migrations try again", cause=str(exc), in_s=pause)
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)


# SQLSTATEs of a database not reached yet: a connection refused or lost (class 08), a server
# still starting (57P03), one with no connection to spare (53300)
_NOT_REACHED_STATES = ("08", "57P03", "53300")


def _not_reached(exc: ServiceUnavailable) -> bool:
    """Whether the database was not reached (no answer, or no connection), rather than refusing
    a statement it ran."""
    state = getattr(exc.__cause__, "sqlstate", None)
    return state is None or state.startswith(_NOT_REACHED_STATES)
