-- Dashboard accounts and sessions (SQLite). Kept column for column in step
-- with the PostgreSQL migration of the same number.

-- People who sign in to the web dashboard: the operator, who sees every
-- store, and shop staff, who see the stores granted to them. The password
-- is kept only as an argon2id hash (PHC string); the TOTP secret is sealed
-- like every other secret column ('' until the second factor is enrolled).
CREATE TABLE dashboard_users (
	id TEXT NOT NULL PRIMARY KEY,
	email TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	totp_secret TEXT NOT NULL,
	totp_last_step INTEGER NOT NULL, -- last accepted TOTP time step: a code is good once
	operator INTEGER NOT NULL,
	failed_logins INTEGER NOT NULL,  -- consecutive failures since the last success
	locked_until INTEGER,
	disabled_at INTEGER,
	created_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX dashboard_users_email_key ON dashboard_users (email);

-- Which stores a staff user may see, and in which role (viewer, staff,
-- owner).
CREATE TABLE dashboard_grants (
	user_id TEXT NOT NULL REFERENCES dashboard_users (id),
	store_id TEXT NOT NULL REFERENCES stores (id),
	role TEXT NOT NULL,
	PRIMARY KEY (user_id, store_id)
) STRICT;

-- Signed-in browsers. Only a SHA-256 hash of the cookie's token is kept,
-- so a copy of the database cannot be used to sign in.
CREATE TABLE dashboard_sessions (
	token_hash BLOB NOT NULL PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES dashboard_users (id),
	stage TEXT NOT NULL,             -- 'second_factor' until the TOTP code is given, then 'signed_in'
	created_at INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL      -- the absolute limit; idleness is judged from last_seen_at
) STRICT;
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);
