-- Leadership leases: one row per kind of work that one instance at a time
-- may do (the chain watcher of a network). epoch is the fencing token: it
-- grows by one at every acquisition, and every write of the leader is
-- conditional on the epoch it holds. expires_at is in microseconds of the
-- database's clock, so the instances' clocks never meet.
CREATE TABLE leases (
	name TEXT NOT NULL PRIMARY KEY,
	holder TEXT NOT NULL,
	epoch BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);

-- watch_seq orders invoices by insertion, whichever instance and clock made
-- them: the chain watcher's incremental cursor. (Ids are time-ordered by the
-- creating instance's clock, which may be skewed.)
ALTER TABLE invoices ADD COLUMN watch_seq BIGSERIAL;
CREATE INDEX invoices_watch_seq_idx ON invoices (network, watch_seq);
