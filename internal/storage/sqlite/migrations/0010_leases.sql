-- Leadership leases: one row per kind of work that one instance at a time
-- may do (the chain watcher of a network). epoch is the fencing token: it
-- grows by one at every acquisition, and every write of the leader is
-- conditional on the epoch it holds. expires_at is in microseconds of the
-- database's clock.
CREATE TABLE leases (
	name TEXT NOT NULL PRIMARY KEY,
	holder TEXT NOT NULL,
	epoch INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

-- The chain watcher's incremental cursor over invoices is their rowid
-- (insertion order; one writer, so also commit order, and invoices are
-- never deleted). An index on network ends in the rowid, so it serves
-- WHERE network = ? AND rowid > ? ORDER BY rowid.
CREATE INDEX invoices_network_idx ON invoices (network);
