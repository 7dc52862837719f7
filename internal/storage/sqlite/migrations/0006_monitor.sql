-- Payment monitoring (SQLite): failed payments per sending address, the
-- addresses blocked after too many, and the index the unusual-activity
-- rule counts through. Kept column for column in step with PostgreSQL.
CREATE TABLE address_failures (
	network TEXT NOT NULL,
	address TEXT NOT NULL,
	payment_id TEXT NOT NULL,
	invoice_id TEXT NOT NULL,
	reason TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	CONSTRAINT address_failures_pkey PRIMARY KEY (network, address, payment_id, reason)
) STRICT;
CREATE INDEX address_failures_window_idx ON address_failures (network, address, created_at);
CREATE INDEX address_failures_created_idx ON address_failures (created_at);

CREATE TABLE blocked_addresses (
	id TEXT NOT NULL,
	network TEXT NOT NULL,
	address TEXT NOT NULL,
	reason TEXT NOT NULL,
	failures INTEGER NOT NULL,
	blocked_at INTEGER NOT NULL,
	blocked_by TEXT NOT NULL,
	CONSTRAINT blocked_addresses_pkey PRIMARY KEY (network, address),
	CONSTRAINT blocked_addresses_id_key UNIQUE (id)
) STRICT;

CREATE INDEX payments_from_idx ON payments (from_address, seen_at);
