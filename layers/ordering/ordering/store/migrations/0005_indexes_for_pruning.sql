-- What the pruning function deletes, found by index: old ledger rows, expired reservations,
-- old dead letters and abandoned drafts, a batch at a time.
CREATE INDEX consumed_events_by_age ON bc_ordering.consumed_events (consumed_at);
CREATE INDEX reservations_by_expiry ON bc_ordering.reservations (expires_at);
CREATE INDEX dead_letters_by_age ON bc_ordering.dead_letters (recorded_at);
CREATE INDEX orders_drafts_by_age ON bc_ordering.orders (updated_at) WHERE state = 'draft';
