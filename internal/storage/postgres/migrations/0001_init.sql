-- Initial schema (PostgreSQL). Kept column for column in step with the
-- SQLite migration of the same number; the differences are types only:
-- BOOLEAN, BYTEA, BIGINT, and COLLATE "C" on ids so that ORDER BY id and
-- the id < cursor comparison follow byte order (ids are time-ordered
-- lowercase base32) whatever the database's locale.
-- Amounts are TEXT decimal integers (never summed in SQL); times are
-- BIGINT microseconds since the Unix epoch, UTC.

CREATE TABLE stores (
	id TEXT COLLATE "C" NOT NULL,
	name TEXT NOT NULL,
	livemode BOOLEAN NOT NULL,
	default_currency TEXT NOT NULL,
	invoice_expiry_us BIGINT NOT NULL,
	monitoring_window_us BIGINT NOT NULL,
	tolerance_bps INTEGER NOT NULL,
	confirmations TEXT NOT NULL, -- JSON confirmation policy
	allow_pii BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	CONSTRAINT stores_pkey PRIMARY KEY (id)
);

CREATE TABLE wallets (
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	network TEXT NOT NULL,
	account_key TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	next_index BIGINT NOT NULL DEFAULT 0,
	CONSTRAINT wallets_pkey PRIMARY KEY (store_id, network)
);

CREATE TABLE api_keys (
	id TEXT COLLATE "C" NOT NULL,
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	name TEXT NOT NULL,
	livemode BOOLEAN NOT NULL,
	hash BYTEA NOT NULL,
	last4 TEXT NOT NULL,
	scopes TEXT NOT NULL,      -- JSON array
	allowed_ips TEXT NOT NULL, -- JSON array or null
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT,
	last_used_at BIGINT,
	last_used_ip TEXT NOT NULL,
	rotated_to TEXT NOT NULL,
	CONSTRAINT api_keys_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);
CREATE INDEX api_keys_store_idx ON api_keys (store_id, id DESC);

CREATE TABLE invoices (
	id TEXT COLLATE "C" NOT NULL,
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	livemode BOOLEAN NOT NULL,
	order_id TEXT, -- NULL when the shop gave none
	amount TEXT NOT NULL,
	currency TEXT NOT NULL,
	network TEXT NOT NULL,
	asset TEXT NOT NULL,
	crypto_due TEXT NOT NULL,
	rate TEXT NOT NULL,
	address TEXT NOT NULL,
	address_index BIGINT NOT NULL,
	status TEXT NOT NULL,
	flags INTEGER NOT NULL,
	amount_paid TEXT NOT NULL,
	amount_confirmed TEXT NOT NULL,
	required_confirmations INTEGER NOT NULL,
	customer_reference TEXT NOT NULL,
	metadata TEXT NOT NULL, -- JSON object or null
	redirect_url TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	monitor_until BIGINT NOT NULL,
	settled_at BIGINT,
	CONSTRAINT invoices_pkey PRIMARY KEY (id),
	CONSTRAINT invoices_store_order_key UNIQUE (store_id, order_id),
	CONSTRAINT invoices_network_address_key UNIQUE (network, address)
);
CREATE INDEX invoices_list_idx ON invoices (store_id, livemode, id DESC);
CREATE INDEX invoices_status_idx ON invoices (store_id, livemode, status, id DESC);

CREATE TABLE payments (
	id TEXT COLLATE "C" NOT NULL,
	invoice_id TEXT COLLATE "C" NOT NULL REFERENCES invoices (id),
	tx_id TEXT NOT NULL,
	vout BIGINT NOT NULL,
	amount TEXT NOT NULL,
	block_hash TEXT NOT NULL,
	block_height BIGINT NOT NULL,
	confirmations BIGINT NOT NULL,
	rbf BOOLEAN NOT NULL,
	from_address TEXT NOT NULL,
	status TEXT NOT NULL,
	seen_at BIGINT NOT NULL,
	confirmed_at BIGINT,
	CONSTRAINT payments_pkey PRIMARY KEY (id),
	CONSTRAINT payments_tx_vout_invoice_key UNIQUE (tx_id, vout, invoice_id)
);
CREATE INDEX payments_invoice_idx ON payments (invoice_id, seen_at);

CREATE TABLE events (
	id TEXT COLLATE "C" NOT NULL,
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	livemode BOOLEAN NOT NULL,
	type TEXT NOT NULL,
	invoice_id TEXT COLLATE "C" REFERENCES invoices (id),
	data TEXT, -- JSON exactly as written: not JSONB, which would reformat it
	created_at BIGINT NOT NULL,
	CONSTRAINT events_pkey PRIMARY KEY (id)
);
CREATE INDEX events_list_idx ON events (store_id, livemode, id DESC);
CREATE INDEX events_invoice_idx ON events (invoice_id, id DESC);

CREATE TABLE idempotency_records (
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	key TEXT NOT NULL,
	method TEXT NOT NULL,
	path TEXT NOT NULL,
	request_hash BYTEA NOT NULL,
	status INTEGER NOT NULL,
	body BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	CONSTRAINT idempotency_records_pkey PRIMARY KEY (store_id, key)
);
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at);
