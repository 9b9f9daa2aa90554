"""CloudFormation custom resource: applies the SQL migrations on Create and Update; Delete
keeps the data. Always answers CloudFormation (ordering.custom_resource), so that a bad
migration, a broken import or a timeout fails the deploy at once."""

from typing import Any

from ordering.custom_resource import answer_import_failure, handle

PHYSICAL_ID = "bc_ordering-schema"

try:
    from ordering.store.db import invocation_deadline
    from ordering.usecases.migrate_schema import migrate_schema
except Exception as exc:  # answered at the first invocation, instead of a deploy left waiting
    _import_failure: Exception | None = exc
else:
    _import_failure = None


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    physical_id = event.get("PhysicalResourceId") or PHYSICAL_ID
    if _import_failure is not None:
        answer_import_failure(event, _import_failure, physical_id)
        return

    def work() -> dict[str, str]:
        if event["RequestType"] not in ("Create", "Update"):
            return {"Applied": "none"}  # Delete keeps the data
        with invocation_deadline(context):
            applied = migrate_schema()
        return {"Applied": ",".join(applied) or "none"}

    handle(event, context, work, physical_resource_id=physical_id)
