-- Chain watching: the per-network cursor and snapshot, and the indexes the
-- watcher's queries read through.
CREATE TABLE chain_state (
	network TEXT NOT NULL PRIMARY KEY,
	height BIGINT NOT NULL,
	hash TEXT NOT NULL,
	snapshot BYTEA NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX invoices_watch_idx ON invoices (network, monitor_until);
CREATE INDEX invoices_due_idx ON invoices (status, expires_at);
CREATE INDEX payments_tx_idx ON payments (tx_id, vout);
