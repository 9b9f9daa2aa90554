-- Add-to-cart's per-customer per-event seat limit counts the seats the customer holds in live
-- orders for the seat's event. Two adds of one customer at once would each count without the
-- other's seat, so an add that counts first locks its customer's row here, and counts in a
-- statement that starts once it holds it: one customer's adds take turns. 65,536 rows, a
-- customer's by a hash of the owner: two customers share one rarely and then only wait a
-- statement. A row lock, not an advisory lock: RDS Proxy pins the session of a client that
-- takes advisory locks. Expand-only: the previous release reads none of it.
CREATE TABLE bc_ordering.customer_turns (slot integer PRIMARY KEY CHECK (slot BETWEEN 0 AND 65535));
INSERT INTO bc_ordering.customer_turns (slot) SELECT generate_series(0, 65535);
