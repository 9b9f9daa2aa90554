-- Three corrections of the lifecycle (SPEC §3). Expand-only: the previous release neither reads
-- nor writes the new columns, and its statements still satisfy every constraint.

-- The state an order was cancelled from: a cart (draft) cancelled by a payment failure is never
-- paid afterwards (Payment charges checked-out orders only), while a pending one is paid again
-- by its retried payment. Null for orders cancelled before this release (treated as checked out,
-- as they were).
ALTER TABLE bc_ordering.orders
    ADD COLUMN cancelled_from text CHECK (cancelled_from IN ('draft', 'pending'));

-- The order a consumed event was applied to, so that an event id (a ticket id, a payment id) that
-- comes again for another order is told apart from a redelivery: a conflict, never silence.
ALTER TABLE bc_ordering.consumed_events ADD COLUMN order_id uuid;

ALTER TABLE bc_ordering.order_conflicts DROP CONSTRAINT order_conflicts_kind_check;
ALTER TABLE bc_ordering.order_conflicts ADD CONSTRAINT order_conflicts_kind_check CHECK (kind IN (
    'payment_for_cancelled_order', 'payment_amount_mismatch', 'payment_for_draft_order',
    'second_payment', 'ticket_for_cancelled_order', 'ticket_for_draft_order',
    'ticket_for_another_order', 'payment_for_another_order'));

-- one conflict per event and order (a ticket id reused for two other orders is two conflicts);
-- the same name, so that the previous release's ON CONFLICT ON CONSTRAINT still finds it
ALTER TABLE bc_ordering.order_conflicts DROP CONSTRAINT order_conflicts_once;
ALTER TABLE bc_ordering.order_conflicts
    ADD CONSTRAINT order_conflicts_once UNIQUE (topic, event_id, kind, order_id);
