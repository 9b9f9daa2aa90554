-- What the Kafka consumers need to be idempotent and to lose nothing.

-- Every consumed event, by its business id, recorded in the transaction that applied it:
-- a redelivery finds its row and changes nothing.
CREATE TABLE bc_ordering.consumed_events (
    topic text NOT NULL,
    event_id text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
);

-- Records that can never succeed (not JSON, wrong schema, unknown order), kept for inspection.
-- Values are stored as received, except that customer ids and guest tokens are replaced by
-- their hashes (they may be bearer secrets).
CREATE TABLE bc_ordering.dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    key bytea,
    value bytea,
    reason text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dead_letters_once UNIQUE (topic, kafka_partition, kafka_offset)
);

-- Events that contradict the order (a payment for a cancelled order, an amount that is not
-- the order's total, ...): they need a refund or a person's review, never silence.
CREATE TABLE bc_ordering.order_conflicts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id uuid NOT NULL REFERENCES bc_ordering.orders (id),
    kind text NOT NULL CHECK (kind IN (
        'payment_for_cancelled_order', 'payment_amount_mismatch', 'payment_for_draft_order',
        'second_payment', 'ticket_for_cancelled_order', 'ticket_for_draft_order')),
    topic text NOT NULL,
    event_id text NOT NULL,
    amount numeric(12, 2),
    order_total numeric(12, 2),
    resolution text NOT NULL CHECK (resolution IN ('refund', 'review')),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_conflicts_once UNIQUE (topic, event_id, kind)
);
CREATE INDEX order_conflicts_by_order ON bc_ordering.order_conflicts (order_id);

-- the payment that paid the order, so that a second one is seen as such
ALTER TABLE bc_ordering.orders ADD COLUMN payment_id text;
ALTER TABLE bc_ordering.orders ADD COLUMN fulfilled_at timestamptz;
