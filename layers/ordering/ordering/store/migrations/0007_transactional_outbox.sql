-- The transactional outbox: every state change of an order writes its event here, in the
-- statement (so the transaction) that makes the change; the relay publishes the rows to Kafka
-- and marks them published once the broker acknowledged them. An event exists if and only if
-- its change committed.
--
-- Expand-only: the previous release neither reads nor writes these, and its statements leave
-- `version` at its default (a change it makes publishes nothing, as before).
ALTER TABLE bc_ordering.orders ADD COLUMN version integer NOT NULL DEFAULT 0;

CREATE TABLE bc_ordering.outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    order_id uuid NOT NULL,
    -- 1, 2, … per order: a consumer drops what it saw already and notices a gap
    version integer NOT NULL CHECK (version >= 1),
    event_type text NOT NULL
        CHECK (event_type IN ('order-checked-out', 'order-paid', 'order-fulfilled', 'order-cancelled')),
    -- the order as the change left it
    state text NOT NULL,
    total_amount numeric(12, 2) NOT NULL,
    reason text CHECK (reason IN ('customer', 'service', 'payment-failed', 'reservation-expired')),
    occurred_at timestamptz NOT NULL,
    published_at timestamptz,
    CONSTRAINT outbox_one_event_per_version UNIQUE (order_id, version)
);

-- what the relay claims: each order's oldest unpublished event
CREATE INDEX outbox_unpublished ON bc_ordering.outbox (order_id, id) WHERE published_at IS NULL;
-- what the pruning deletes: published events past their retention
CREATE INDEX outbox_published ON bc_ordering.outbox (published_at) WHERE published_at IS NOT NULL;
