-- The platform as it is: anonymous customers (the web frontend's per-session `userId`, a
-- bearer credential kept only as its hash, in a namespace of its own), waitlist orders (a seat
-- with no reservation, priced as the Waitlist service sends it, 0 included), and why an order
-- was cancelled. Expand only: code of the previous release still runs on this schema.

ALTER TABLE bc_ordering.orders
    ADD COLUMN anonymous_id_hash bytea CHECK (octet_length(anonymous_id_hash) = 32);

-- the owner's name gains the anonymous kind; a generated column cannot be redefined in place
DROP INDEX bc_ordering.orders_one_draft_per_owner;
DROP INDEX bc_ordering.orders_by_owner;
ALTER TABLE bc_ordering.orders DROP COLUMN owner_key;
ALTER TABLE bc_ordering.orders ADD COLUMN owner_key text GENERATED ALWAYS AS (
    coalesce('user:' || user_id, 'guest:' || encode(guest_token_hash, 'hex'),
             'anonymous:' || encode(anonymous_id_hash, 'hex'))
) STORED;
CREATE UNIQUE INDEX orders_one_draft_per_owner ON bc_ordering.orders (owner_key) WHERE state = 'draft';
CREATE INDEX orders_by_owner ON bc_ordering.orders (owner_key, created_at DESC, id DESC);

ALTER TABLE bc_ordering.orders DROP CONSTRAINT orders_one_owner;
ALTER TABLE bc_ordering.orders ADD CONSTRAINT orders_one_owner
    CHECK (num_nonnulls(user_id, guest_token_hash, anonymous_id_hash) = 1);

-- 'cart' orders are built from reservations by add-to-cart; 'waitlist' orders are placed by
-- the Waitlist service for a seat it allots, directly in pending
ALTER TABLE bc_ordering.orders
    ADD COLUMN origin text NOT NULL DEFAULT 'cart' CHECK (origin IN ('cart', 'waitlist'));
-- a waitlist order is one seat, placed in pending: never a cart
ALTER TABLE bc_ordering.orders ADD CONSTRAINT orders_waitlist_is_one_seat_never_a_draft
    CHECK (origin = 'cart' OR (state <> 'draft' AND item_count = 1));
-- lets items reference (id, origin), so that their rules can depend on their order's origin
ALTER TABLE bc_ordering.orders ADD CONSTRAINT orders_id_origin UNIQUE (id, origin);
ALTER TABLE bc_ordering.orders
    ADD COLUMN cancel_reason text
        CHECK (cancel_reason IN ('customer', 'service', 'payment-failed', 'reservation-expired'));

-- a waitlist item may cost 0, so only a cart's total says whether it is empty
ALTER TABLE bc_ordering.orders DROP CONSTRAINT orders_total_matches_emptiness;
ALTER TABLE bc_ordering.orders ADD CONSTRAINT orders_total_matches_emptiness
    CHECK ((item_count = 0) = (total_amount = 0) OR origin = 'waitlist');

-- a waitlist item holds no reservation and may cost 0; every other item holds one and costs
-- more than zero. Items copy their order's origin (kept equal by the foreign key) to say so.
-- "A seat in at most one live order" (order_items_seat_in_one_live_order) holds for both.
ALTER TABLE bc_ordering.order_items ADD COLUMN order_origin text NOT NULL DEFAULT 'cart';
ALTER TABLE bc_ordering.order_items ADD CONSTRAINT order_items_order_origin
    FOREIGN KEY (order_id, order_origin) REFERENCES bc_ordering.orders (id, origin);
ALTER TABLE bc_ordering.order_items ALTER COLUMN reservation_id DROP NOT NULL;
ALTER TABLE bc_ordering.order_items ADD CONSTRAINT order_items_reservation_unless_waitlist
    CHECK ((order_origin = 'waitlist') = (reservation_id IS NULL));
ALTER TABLE bc_ordering.order_items DROP CONSTRAINT order_items_price_check;
ALTER TABLE bc_ordering.order_items ADD CONSTRAINT order_items_price
    CHECK (price > 0 OR (order_origin = 'waitlist' AND price = 0));

-- the concert, where truly known: the waitlist's concertEventId, reservation-expired's
-- (reservation-created's eventId is a message id, never this)
ALTER TABLE bc_ordering.order_items ADD COLUMN concert_event_id uuid;
ALTER TABLE bc_ordering.reservations ADD COLUMN concert_event_id uuid;
