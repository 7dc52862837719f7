-- Security (SQLite): the append-only, hash-chained audit log. Kept column
-- for column in step with the PostgreSQL migration of the same number.
-- Invoice metadata and customer_reference keep their TEXT columns; they now
-- hold fieldcrypt values ("v1:<key id>:..." sealed, "plain:..." without a
-- key). Rows written before this version hold bare text, which reads as
-- plain text until `cryptopay encryption rotate` seals it.

CREATE TABLE audit_log (
	seq INTEGER NOT NULL PRIMARY KEY,
	id TEXT NOT NULL,
	store_id TEXT NOT NULL, -- '' for an operator action outside any store
	livemode INTEGER NOT NULL,
	actor TEXT NOT NULL,    -- an API key id, or "operator"
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	source_ip TEXT NOT NULL,
	request_id TEXT NOT NULL,
	details TEXT NOT NULL,  -- JSON object
	created_at INTEGER NOT NULL,
	prev_hash BLOB NOT NULL,
	hash BLOB NOT NULL,
	CONSTRAINT audit_log_id_key UNIQUE (id)
) STRICT;
CREATE INDEX audit_log_store_idx ON audit_log (store_id, livemode, seq DESC);

-- One row: the newest entry's seq and hash. Appends update it first, which
-- serialises them (on PostgreSQL by the row lock) and lets verification
-- notice entries removed from the end of the log.
CREATE TABLE audit_chain_head (
	id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL,
	hash BLOB NOT NULL
) STRICT;
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, x'');
