-- What the platform's producers send is stored within documented limits (README: "Events it
-- consumes"): a seat's number and section at most 64 characters, a payment id at most 128. The
-- consumers refuse a longer one as they parse it (a dead letter at once, never a retry); these
-- hold every other path to the same limits.
--
-- What was stored longer before (a 600 KB seat number was) is cut to the limit first: a row that
-- broke a check could not be updated any more, and cancelling an order updates its items (their
-- copy of the order's liveness). Payment ids and event ids were held to 128 by the consumers.
UPDATE bc_ordering.reservations SET seat_number = left(seat_number, 64) WHERE char_length(seat_number) > 64;
UPDATE bc_ordering.reservations SET section = left(section, 64) WHERE char_length(section) > 64;
UPDATE bc_ordering.order_items SET seat_number = left(seat_number, 64) WHERE char_length(seat_number) > 64;
UPDATE bc_ordering.order_items SET section = left(section, 64) WHERE char_length(section) > 64;

-- NOT VALID: no second scan of the tables under their lock (the updates above made every row
-- fit); every row written from now on is checked. Expand-only: the previous release's writes
-- satisfy them (it refused nothing longer, but nothing longer is sent).
ALTER TABLE bc_ordering.reservations
    ADD CONSTRAINT reservations_seat_number_length CHECK (char_length(seat_number) <= 64) NOT VALID,
    ADD CONSTRAINT reservations_section_length CHECK (char_length(section) <= 64) NOT VALID;
ALTER TABLE bc_ordering.order_items
    ADD CONSTRAINT order_items_seat_number_length CHECK (char_length(seat_number) <= 64) NOT VALID,
    ADD CONSTRAINT order_items_section_length CHECK (char_length(section) <= 64) NOT VALID;
ALTER TABLE bc_ordering.orders
    ADD CONSTRAINT orders_payment_id_length CHECK (char_length(payment_id) <= 128) NOT VALID;
ALTER TABLE bc_ordering.consumed_events
    ADD CONSTRAINT consumed_events_event_id_length CHECK (char_length(event_id) <= 128) NOT VALID;
