-- How a store presents itself on the checkout page: support contact, brand
-- colour, block explorer template and a logo the gateway serves itself.
-- One optional row per store; a store without one shows the defaults.
-- Kept column for column in step with the PostgreSQL migration of the same
-- number; the differences are types only.
CREATE TABLE store_settings (
	store_id TEXT NOT NULL PRIMARY KEY REFERENCES stores (id),
	support_url TEXT NOT NULL,
	support_email TEXT NOT NULL,
	brand_color TEXT NOT NULL,
	explorer_tx_url TEXT NOT NULL,
	logo BLOB NOT NULL, -- empty when the store has no logo
	logo_type TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
