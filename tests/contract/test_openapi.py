"""openapi.json is what the code says, and says every error the contract has."""

from __future__ import annotations

import json

from ordering.domain import errors
from ordering_local.template import load
from ordering_local.tools.openapi import text
from tests.support import ROOT


def test_the_committed_document_is_the_one_the_code_generates() -> None:
    assert (ROOT / "openapi.json").read_text() == text(ROOT), "run `.venv/bin/ordering-local openapi`"


def test_every_route_of_both_apis_is_documented_with_the_api_that_serves_it() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    documented = {
        (method.upper(), path, api)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for api in operation["x-apis"]
    }
    served = {
        (route.method, route.path, "internal" if route.internal else "public")
        for function in load(ROOT)
        for route in function.routes
    }
    assert documented == served


def test_every_error_message_of_the_contract_appears() -> None:
    document = (ROOT / "openapi.json").read_text()
    fixed = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.OrderingError) and "message" in vars(cls)
    ]
    assert len(fixed) > 15
    for cls in fixed:
        if cls is errors.InvalidRequest or cls.message == "Bad request":
            continue
        assert json.dumps(cls.message)[1:-1] in document, cls.__name__
    for parametrized in ("Reservation is <status>", "Order cannot hold more than <N> seats",
                         "Customer cannot hold more than <N> seats of this event",
                         "Order cannot be cancelled in state '<state>'"):  # fmt: skip
        assert parametrized in document


def test_the_committed_asyncapi_document_is_the_one_the_models_generate() -> None:
    from ordering.published.events import MODELS
    from ordering_local.tools import asyncapi

    assert (ROOT / "asyncapi.yaml").read_text() == asyncapi.text(), "run `.venv/bin/ordering-local asyncapi`"
    document = asyncapi.generate()
    consumed = [topic for function in load(ROOT) for topic in function.topics]
    # every topic the template's mappings consume, and every one the relay publishes
    assert sorted(document["channels"]) == sorted([*consumed, *MODELS])
    sent = {operation["channel"]["$ref"].rpartition("/")[2] for operation in document["operations"].values()
            if operation["action"] == "send"}  # fmt: skip
    assert sent == set(MODELS)
    assert document["components"]["schemas"]["OrderCancelled"]["properties"]["reason"]["enum"] == [
        "customer", "service", "payment-failed", "reservation-expired",
    ]  # fmt: skip
    assert document["components"]["schemas"]["ReservationCreated"]["required"] == [
        "reservationId", "customerId", "seatId", "createdAt", "expiresAt",
    ]  # fmt: skip
