-- Key scope usage and strict sealing (SQLite). Kept column for column in
-- step with the PostgreSQL migration of the same number.

-- When each API key last used each of its scopes, written at most once per
-- key and scope per minute, so `cryptopay doctor` can name scopes a key
-- holds but does not use (least privilege).
CREATE TABLE api_key_scope_usage (
	key_id TEXT NOT NULL REFERENCES api_keys (id),
	scope TEXT NOT NULL,
	last_used_at INTEGER NOT NULL,
	PRIMARY KEY (key_id, scope)
) STRICT;

-- One row: whether every sealed column is sealed with a key. Reseal sets
-- strict once it finishes with no plain value left; from then on a plain or
-- unprefixed value in a sealed column is refused on read, so write access
-- to the database cannot swap a sealed value for readable text. A missing
-- row reads as strict (fail closed).
CREATE TABLE sealing_state (
	id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	strict INTEGER NOT NULL,
	key_id TEXT NOT NULL,    -- the primary key id when strict was set
	updated_at INTEGER NOT NULL
) STRICT;
INSERT INTO sealing_state (id, strict, key_id, updated_at) VALUES (1, 0, '', 0);
