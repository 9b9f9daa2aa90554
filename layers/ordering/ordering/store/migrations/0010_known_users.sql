-- The ids the service has seen as a verified token's `sub`: user ids, which are no secret (they
-- are in tokens, logs and on Kafka). An anonymous id or a guest token equal to one of them claims
-- none of the reservations made for it (SPEC: "A user id is not a bearer secret"). Kept as the
-- same sha256 as reservations.customer_hash, so that the check is one index probe beside the
-- reservation it guards; a user id is not a secret, the hash only matches the column it guards.
CREATE TABLE bc_ordering.known_users (
    user_hash bytea PRIMARY KEY CHECK (octet_length(user_hash) = 32),
    first_seen_at timestamptz NOT NULL DEFAULT now()
);
