-- Idempotency records belong to the API key that made the request, not to
-- its store: another key of the same store must never replay (and so read)
-- a response. A record is written in the transaction of the request's
-- effect, first as 'pending', and completed with the response afterwards;
-- a response that carried a secret is never stored ('secret_shown').
-- Records are short-lived (48 hours) and the old ones name no key, so the
-- table is replaced rather than converted.
DROP TABLE idempotency_records;
CREATE TABLE idempotency_records (
	api_key_id TEXT COLLATE "C" NOT NULL REFERENCES api_keys (id),
	key TEXT NOT NULL,
	method TEXT NOT NULL,
	path TEXT NOT NULL,
	request_hash BYTEA NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'secret_shown')),
	status INTEGER NOT NULL,
	body BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	CONSTRAINT idempotency_records_pkey PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at);
