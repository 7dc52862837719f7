-- Initial schema (SQLite). Kept column for column in step with the
-- PostgreSQL migration of the same number; the differences are types only:
-- booleans are INTEGER 0/1, byte strings BLOB. STRICT tables make SQLite
-- reject a value of the wrong type instead of storing it.
-- Amounts are TEXT decimal integers (never summed in SQL); times are
-- INTEGER microseconds since the Unix epoch, UTC.
-- SQLite does not report constraint names, so the names below document the
-- ones the engine derives from the columns (see errors.go).

CREATE TABLE stores (
	id TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL,
	livemode INTEGER NOT NULL,
	default_currency TEXT NOT NULL,
	invoice_expiry_us INTEGER NOT NULL,
	monitoring_window_us INTEGER NOT NULL,
	tolerance_bps INTEGER NOT NULL,
	confirmations TEXT NOT NULL, -- JSON confirmation policy
	allow_pii INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE wallets (
	store_id TEXT NOT NULL REFERENCES stores (id),
	network TEXT NOT NULL,
	account_key TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	next_index INTEGER NOT NULL DEFAULT 0,
	CONSTRAINT wallets_pkey PRIMARY KEY (store_id, network)
) STRICT;

CREATE TABLE api_keys (
	id TEXT NOT NULL PRIMARY KEY,
	store_id TEXT NOT NULL REFERENCES stores (id),
	name TEXT NOT NULL,
	livemode INTEGER NOT NULL,
	hash BLOB NOT NULL,
	last4 TEXT NOT NULL,
	scopes TEXT NOT NULL,      -- JSON array
	allowed_ips TEXT NOT NULL, -- JSON array or null
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER,
	last_used_at INTEGER,
	last_used_ip TEXT NOT NULL,
	rotated_to TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);
CREATE INDEX api_keys_store_idx ON api_keys (store_id, id DESC);

CREATE TABLE invoices (
	id TEXT NOT NULL PRIMARY KEY,
	store_id TEXT NOT NULL REFERENCES stores (id),
	livemode INTEGER NOT NULL,
	order_id TEXT, -- NULL when the shop gave none
	amount TEXT NOT NULL,
	currency TEXT NOT NULL,
	network TEXT NOT NULL,
	asset TEXT NOT NULL,
	crypto_due TEXT NOT NULL,
	rate TEXT NOT NULL,
	address TEXT NOT NULL,
	address_index INTEGER NOT NULL,
	status TEXT NOT NULL,
	flags INTEGER NOT NULL,
	amount_paid TEXT NOT NULL,
	amount_confirmed TEXT NOT NULL,
	required_confirmations INTEGER NOT NULL,
	customer_reference TEXT NOT NULL,
	metadata TEXT NOT NULL, -- JSON object or null
	redirect_url TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	monitor_until INTEGER NOT NULL,
	settled_at INTEGER,
	CONSTRAINT invoices_store_order_key UNIQUE (store_id, order_id),
	CONSTRAINT invoices_network_address_key UNIQUE (network, address)
) STRICT;
CREATE INDEX invoices_list_idx ON invoices (store_id, livemode, id DESC);
CREATE INDEX invoices_status_idx ON invoices (store_id, livemode, status, id DESC);

CREATE TABLE payments (
	id TEXT NOT NULL PRIMARY KEY,
	invoice_id TEXT NOT NULL REFERENCES invoices (id),
	tx_id TEXT NOT NULL,
	vout INTEGER NOT NULL,
	amount TEXT NOT NULL,
	block_hash TEXT NOT NULL,
	block_height INTEGER NOT NULL,
	confirmations INTEGER NOT NULL,
	rbf INTEGER NOT NULL,
	from_address TEXT NOT NULL,
	status TEXT NOT NULL,
	seen_at INTEGER NOT NULL,
	confirmed_at INTEGER,
	CONSTRAINT payments_tx_vout_invoice_key UNIQUE (tx_id, vout, invoice_id)
) STRICT;
CREATE INDEX payments_invoice_idx ON payments (invoice_id, seen_at);

CREATE TABLE events (
	id TEXT NOT NULL PRIMARY KEY,
	store_id TEXT NOT NULL REFERENCES stores (id),
	livemode INTEGER NOT NULL,
	type TEXT NOT NULL,
	invoice_id TEXT REFERENCES invoices (id),
	data TEXT, -- JSON exactly as written
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX events_list_idx ON events (store_id, livemode, id DESC);
CREATE INDEX events_invoice_idx ON events (invoice_id, id DESC);

CREATE TABLE idempotency_records (
	store_id TEXT NOT NULL REFERENCES stores (id),
	key TEXT NOT NULL,
	method TEXT NOT NULL,
	path TEXT NOT NULL,
	request_hash BLOB NOT NULL,
	status INTEGER NOT NULL,
	body BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	CONSTRAINT idempotency_records_pkey PRIMARY KEY (store_id, key)
) STRICT;
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at);
