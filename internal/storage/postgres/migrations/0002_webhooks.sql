-- Webhook endpoints, deliveries and attempts (PostgreSQL). Kept column for
-- column in step with the SQLite migration of the same number.
-- River's own tables (the job queue that carries deliveries) are created by
-- rivermigrate, not here: River owns and versions its schema.

CREATE TABLE webhook_endpoints (
	id TEXT COLLATE "C" NOT NULL,
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	livemode BOOLEAN NOT NULL,
	url TEXT NOT NULL,
	description TEXT NOT NULL,
	event_types TEXT NOT NULL, -- JSON array; [] means every type
	enabled BOOLEAN NOT NULL,
	disabled_reason TEXT NOT NULL,
	secret TEXT NOT NULL,          -- sealed (fieldcrypt)
	previous_secret TEXT NOT NULL, -- sealed, '' when none
	previous_secret_expires_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id)
);
CREATE INDEX webhook_endpoints_store_idx ON webhook_endpoints (store_id, livemode, id DESC);

CREATE TABLE webhook_deliveries (
	id TEXT COLLATE "C" NOT NULL,
	endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	livemode BOOLEAN NOT NULL,
	event_id TEXT COLLATE "C" NOT NULL REFERENCES events (id),
	event_type TEXT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	body BYTEA NOT NULL, -- the exact request body
	next_attempt_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (endpoint_id, status, id DESC);

CREATE TABLE webhook_attempts (
	delivery_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
	number INTEGER NOT NULL,
	started_at BIGINT NOT NULL,
	duration_us BIGINT NOT NULL,
	status_code INTEGER NOT NULL,
	response_body TEXT NOT NULL,
	error TEXT NOT NULL,
	CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, number)
);
