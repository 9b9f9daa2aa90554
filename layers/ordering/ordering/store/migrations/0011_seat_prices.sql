-- A copy of every seat's price from the platform's Catalog, which owns prices (SPEC: "Prices"):
-- refreshed on a schedule and once on a miss, and read by add-to-cart in the statement that
-- reads the reservation. Expand-only: the previous release reads none of it.
CREATE TABLE bc_ordering.seat_prices (
    seat_id uuid PRIMARY KEY,
    event_id uuid NOT NULL,
    section_code text CHECK (char_length(section_code) <= 64),
    price numeric(12, 2) NOT NULL CHECK (price > 0),
    refreshed_at timestamptz NOT NULL
);

-- the events whose seat maps the copy holds, so that a refresh on a miss reads new events first
CREATE TABLE bc_ordering.catalog_events (
    event_id uuid PRIMARY KEY,
    event_name text CHECK (char_length(event_name) <= 256),
    refreshed_at timestamptz NOT NULL
);

-- one row: the last complete refresh, and the lease of a refresh on a miss under way (so that a
-- crowd missing the same new event makes one refresh, not one each), with who holds it
CREATE TABLE bc_ordering.catalog_refreshes (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    refreshed_at timestamptz,
    leased_until timestamptz,
    leased_by uuid
);
INSERT INTO bc_ordering.catalog_refreshes (id) VALUES (true);
