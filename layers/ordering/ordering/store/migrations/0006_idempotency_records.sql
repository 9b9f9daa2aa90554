-- Idempotency-Key records (Powertools' idempotency utility, persisted here): written in the
-- transaction of the request's own effect, so that the record and the effect always agree.
CREATE TABLE bc_ordering.idempotency_records (
    id text PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('INPROGRESS', 'COMPLETED')),
    expiry_timestamp bigint NOT NULL,
    in_progress_expiry_timestamp bigint,
    payload_hash text,
    response_data text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_records_by_expiry ON bc_ordering.idempotency_records (expiry_timestamp);
