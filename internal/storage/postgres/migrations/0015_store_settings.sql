-- How a store presents itself on the checkout page: support contact, brand
-- colour, block explorer template and a logo the gateway serves itself.
-- One optional row per store; a store without one shows the defaults.
-- Kept column for column in step with the SQLite migration of the same
-- number; the differences are types only.
CREATE TABLE store_settings (
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	support_url TEXT NOT NULL,
	support_email TEXT NOT NULL,
	brand_color TEXT NOT NULL,
	explorer_tx_url TEXT NOT NULL,
	logo BYTEA NOT NULL, -- empty when the store has no logo
	logo_type TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	CONSTRAINT store_settings_pkey PRIMARY KEY (store_id)
);
