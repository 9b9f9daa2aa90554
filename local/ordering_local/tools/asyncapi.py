"""asyncapi.yaml: the AsyncAPI 3 document of the topics the service consumes and of those it
publishes; the payload schemas are generated from the pydantic models the consumers validate
with and the relay serialises (one source each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel


def _topics() -> dict[str, tuple[type[BaseModel], str, str, str]]:
    """topic → (model, producer, key, effect), as the consumers read them."""
    from ordering.consumed.payments import PaymentFailedEvent, PaymentSucceededEvent
    from ordering.consumed.reservations import ReservationCreatedEvent, ReservationExpiredEvent
    from ordering.consumed.tickets import TicketIssuedEvent

    return {
        "reservation-created": (
            ReservationCreatedEvent, "Inventory", "the seat id without dashes",
            "The reservation is stored, and cached until its expiresAt.",
        ),
        "reservation-expired": (
            ReservationExpiredEvent, "Inventory", "the seat id",
            "The reservation expires; the draft or pending order holding that reservation is cancelled.",
        ),
        "payment-succeeded": (
            PaymentSucceededEvent, "Payment", "the payment id",
            "pending → paid, paidAt = processedAt; an order a payment failure cancelled is paid again while"
            " its seats are in no other live order; a payment for any other cancelled order, a second payment"
            " or an amount that is not the order's total is recorded to refund or to review.",
        ),
        "payment-failed": (
            PaymentFailedEvent, "Payment", "the payment id",
            "draft or pending → cancelled; ignored once paid; undone by the retried payment's success.",
        ),
        "ticket-issued": (
            TicketIssuedEvent, "Fulfillment", "the order id",
            "paid → fulfilled (snake_case fields; camelCase accepted too); a ticket that overtakes its payment"
            " still ends fulfilled, even when a failure of that payment's first attempt came first.",
        ),
    }  # fmt: skip


def _published() -> dict[str, tuple[type[BaseModel], str]]:
    """topic → (model, when it is published), as the outbox relay writes them."""
    from ordering.published.events import OrderCancelled, OrderCheckedOut, OrderFulfilled, OrderPaid

    return {
        "order-checked-out": (
            OrderCheckedOut, "draft → pending at checkout, or a waitlist order placed: ready for payment.",
        ),
        "order-paid": (OrderPaid, "Its payment is recorded: pending → paid (or paid again after a retried payment),"
                       " or the payment of an order a ticket fulfilled first (state fulfilled)."),
        "order-fulfilled": (OrderFulfilled, "Its ticket is issued: → fulfilled."),
        "order-cancelled": (OrderCancelled, "draft or pending → cancelled, with the reason."),
    }  # fmt: skip


def _message_name(topic: str) -> str:
    return "".join(part.capitalize() for part in topic.split("-"))


@dataclass
class _Document:
    channels: dict[str, Any] = field(default_factory=dict)
    operations: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)

    def add(self, topic: str, schema: dict[str, Any], *, producer: str, key: str, summary: str, sent: bool) -> None:
        """A topic, its message and the operation on it: received by the service, or sent."""
        name = _message_name(topic)
        self.schemas.update(schema.pop("$defs", {}))
        self.schemas[name] = schema
        self.messages[name] = {
            "name": name,
            "title": f"{topic} ({producer})",
            "contentType": "application/json",
            "summary": summary,
            "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        variable = topic.upper().replace("-", "_") + "_TOPIC"
        verb = "Published" if sent else "Produced"
        self.channels[topic] = {
            "address": topic,
            "description": f"{verb} by the {producer} service; the topic name is configurable ({variable}).",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        self.operations[f"{'publish' if sent else 'consume'}{name}"] = {
            "action": "send" if sent else "receive",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": summary,
        }


def generate() -> dict[str, Any]:
    document = _Document()
    references = "#/components/schemas/{model}"
    for topic, (model, producer, key, effect) in _topics().items():
        schema = model.model_json_schema(mode="validation", ref_template=references)
        document.add(topic, schema, producer=producer, key=key, summary=effect, sent=False)
    for topic, (model, when) in _published().items():
        schema = model.model_json_schema(by_alias=True, mode="serialization", ref_template=references)
        document.add(topic, schema, producer="Ordering", key="the order id", summary=when, sent=True)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Ordering service: events consumed and published",
            "version": "1",
            "description": (
                "Consumed: delivery is at least once, in order only within a partition, with no order across"
                " topics. Every consumer is idempotent, and the final state does not depend on arrival order. A"
                " record that can never succeed (not JSON, wrong schema, unknown order) is kept for inspection and"
                " does not block its partition; one that fails for a passing cause is retried (docs/contract.md)."
                " Published: one event per state change of an order, keyed by the order id, through a"
                " transactional outbox: an event exists if and only if its change committed. At least once, in"
                " order per order; `version` counts an order's events from 1, so a consumer drops what it saw"
                " (same eventId, or a version it has) and notices a gap. No event carries a bearer secret."
            ),
        },
        "channels": document.channels,
        "operations": document.operations,
        "components": {"messages": document.messages, "schemas": dict(sorted(document.schemas.items()))},
    }


def text() -> str:
    return (
        "# Generated by `ordering-local asyncapi` from the consumers' pydantic models: do not edit by hand.\n"
        + yaml.safe_dump(generate(), sort_keys=False, allow_unicode=True, width=100)
    )


def write(root: Path) -> bool:
    path = root / "asyncapi.yaml"
    fresh = text()
    if path.is_file() and path.read_text() == fresh:
        return False
    path.write_text(fresh)
    return True
