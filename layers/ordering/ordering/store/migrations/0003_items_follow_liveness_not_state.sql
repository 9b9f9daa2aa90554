-- Items kept a copy of their order's state for the rule "a seat is in at most one
-- non-cancelled order", so every state change (pending → paid → fulfilled) cascaded an update
-- to every item. Only liveness matters to that rule: items now copy `live`, which changes once,
-- when the order is cancelled, and the other transitions touch the order row alone.

ALTER TABLE bc_ordering.orders ADD COLUMN live boolean GENERATED ALWAYS AS (state <> 'cancelled') STORED;
ALTER TABLE bc_ordering.orders ADD CONSTRAINT orders_id_live UNIQUE (id, live);

ALTER TABLE bc_ordering.order_items ADD COLUMN order_live boolean;
UPDATE bc_ordering.order_items SET order_live = (order_state <> 'cancelled');
ALTER TABLE bc_ordering.order_items ALTER COLUMN order_live SET NOT NULL;

ALTER TABLE bc_ordering.order_items DROP CONSTRAINT order_items_order;
ALTER TABLE bc_ordering.order_items ADD CONSTRAINT order_items_order FOREIGN KEY (order_id, order_live)
    REFERENCES bc_ordering.orders (id, live) ON UPDATE CASCADE;

DROP INDEX bc_ordering.order_items_seat_in_one_live_order;
-- a seat is in at most one non-cancelled order
CREATE UNIQUE INDEX order_items_seat_in_one_live_order ON bc_ordering.order_items (seat_id) WHERE order_live;

ALTER TABLE bc_ordering.order_items DROP COLUMN order_state;
ALTER TABLE bc_ordering.orders DROP CONSTRAINT orders_id_state;
