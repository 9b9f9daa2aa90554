"""CloudFormation custom resource: applies the SQL migrations on Create and Update; Delete
keeps the data. Always answers CloudFormation, so a bad migration fails the deploy."""

import gc

gc.disable()  # until the imports are done: ordering/coldstart.py says why

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ordering.coldstart import imports_done
from ordering.custom_resource import respond
from ordering.observability import logger
from ordering.store.db import invocation_deadline
from ordering.usecases.migrate_schema import migrate_schema

PHYSICAL_ID = "bc_ordering-schema"


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    physical_id = event.get("PhysicalResourceId") or PHYSICAL_ID
    try:
        with invocation_deadline(context):
            applied = migrate_schema() if event["RequestType"] in ("Create", "Update") else []
    except Exception as exc:
        logger.exception("migration failed; the schema is left as it was")
        respond(event, status="FAILED", physical_resource_id=physical_id, reason=f"{type(exc).__name__}: {exc}")
        return
    logger.info("migrations applied", request_type=event["RequestType"], applied=applied)
    respond(event, status="SUCCESS", physical_resource_id=physical_id, data={"Applied": ",".join(applied) or "none"})


imports_done()
