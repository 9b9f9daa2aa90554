-- Orders, their items and the reservations they hold. The invariants of SPEC §4 live here,
-- so that no code path, however concurrent, can break them.

CREATE TABLE bc_ordering.reservations (
    id uuid PRIMARY KEY,
    seat_id uuid NOT NULL,
    -- sha256 of Inventory's customerId: it may be a guest token, which is never stored in plain text
    customer_hash bytea NOT NULL CHECK (octet_length(customer_hash) = 32),
    seat_number text,
    section text,
    base_price numeric(12, 2) NOT NULL DEFAULT 0 CHECK (base_price >= 0),
    status text NOT NULL CHECK (status ~ '^[a-z_]{1,32}$'),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reservations_active_by_seat
    ON bc_ordering.reservations (seat_id, created_at DESC) WHERE status = 'active';

CREATE TABLE bc_ordering.orders (
    id uuid PRIMARY KEY,
    user_id text CHECK (user_id <> ''),
    guest_token_hash bytea CHECK (octet_length(guest_token_hash) = 32),
    -- one name for "who owns this order", for the one-draft rule and the owner's listing
    owner_key text GENERATED ALWAYS AS (
        coalesce('user:' || user_id, 'guest:' || encode(guest_token_hash, 'hex'))
    ) STORED,
    customer_email text,
    state text NOT NULL CHECK (state IN ('draft', 'pending', 'paid', 'fulfilled', 'cancelled')),
    total_amount numeric(12, 2) NOT NULL CHECK (total_amount >= 0),
    item_count integer NOT NULL CHECK (item_count >= 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    paid_at timestamptz,
    CONSTRAINT orders_one_owner CHECK (num_nonnulls(user_id, guest_token_hash) = 1),
    -- every item costs more than zero, so an order is empty exactly when its total is zero
    CONSTRAINT orders_total_matches_emptiness CHECK ((item_count = 0) = (total_amount = 0)),
    -- lets items reference (id, state), so that a state change cascades to them
    CONSTRAINT orders_id_state UNIQUE (id, state)
);

-- at most one draft order (cart) per owner, even under concurrent add-to-cart
CREATE UNIQUE INDEX orders_one_draft_per_owner ON bc_ordering.orders (owner_key) WHERE state = 'draft';
CREATE INDEX orders_by_owner ON bc_ordering.orders (owner_key, created_at DESC, id DESC);

CREATE TABLE bc_ordering.order_items (
    id uuid PRIMARY KEY,
    order_id uuid NOT NULL,
    -- a copy of the order's state kept by the foreign key below (ON UPDATE CASCADE)
    order_state text NOT NULL,
    seat_id uuid NOT NULL,
    price numeric(12, 2) NOT NULL CHECK (price > 0),
    reservation_id uuid NOT NULL REFERENCES bc_ordering.reservations (id),
    seat_number text,
    section text,
    created_at timestamptz NOT NULL,
    CONSTRAINT order_items_order FOREIGN KEY (order_id, order_state)
        REFERENCES bc_ordering.orders (id, state) ON UPDATE CASCADE
);

-- a seat is in at most one non-cancelled order
CREATE UNIQUE INDEX order_items_seat_in_one_live_order
    ON bc_ordering.order_items (seat_id) WHERE order_state <> 'cancelled';
CREATE INDEX order_items_by_order ON bc_ordering.order_items (order_id, created_at, id);
CREATE INDEX order_items_by_reservation ON bc_ordering.order_items (reservation_id);
