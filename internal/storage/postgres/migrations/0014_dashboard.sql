-- Dashboard accounts and sessions (PostgreSQL). Kept column for column in
-- step with the SQLite migration of the same number.

-- People who sign in to the web dashboard: the operator, who sees every
-- store, and shop staff, who see the stores granted to them. The password
-- is kept only as an argon2id hash (PHC string); the TOTP secret is sealed
-- like every other secret column ('' until the second factor is enrolled).
CREATE TABLE dashboard_users (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	email TEXT COLLATE "C" NOT NULL,
	password_hash TEXT NOT NULL,
	totp_secret TEXT NOT NULL,
	totp_last_step BIGINT NOT NULL, -- last accepted TOTP time step: a code is good once
	operator BOOLEAN NOT NULL,
	failed_logins INTEGER NOT NULL, -- consecutive failures since the last success
	locked_until BIGINT,
	disabled_at BIGINT,
	created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX dashboard_users_email_key ON dashboard_users (email);

-- Which stores a staff user may see, and in which role (viewer, staff,
-- owner).
CREATE TABLE dashboard_grants (
	user_id TEXT COLLATE "C" NOT NULL REFERENCES dashboard_users (id),
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	role TEXT COLLATE "C" NOT NULL,
	CONSTRAINT dashboard_grants_pkey PRIMARY KEY (user_id, store_id)
);

-- Signed-in browsers. Only a SHA-256 hash of the cookie's token is kept,
-- so a copy of the database cannot be used to sign in.
CREATE TABLE dashboard_sessions (
	token_hash BYTEA NOT NULL PRIMARY KEY,
	user_id TEXT COLLATE "C" NOT NULL REFERENCES dashboard_users (id),
	stage TEXT COLLATE "C" NOT NULL, -- 'second_factor' until the TOTP code is given, then 'signed_in'
	created_at BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL       -- the absolute limit; idleness is judged from last_seen_at
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);
