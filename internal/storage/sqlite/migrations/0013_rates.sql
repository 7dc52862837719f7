-- The rate an invoice was priced at is locked with where it came from:
-- the providers whose median it is ('' when priced in the asset, "static"
-- for the static table; comma-separated), the time of the oldest price it
-- rests on, and the store's spread applied to it.
ALTER TABLE invoices ADD COLUMN rate_sources TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN rate_at INTEGER;
ALTER TABLE invoices ADD COLUMN rate_spread_bps INTEGER NOT NULL DEFAULT 0;

-- A store's spread: the market rate of its fiat-priced invoices is
-- lowered by this many 1/100 of a percent.
ALTER TABLE stores ADD COLUMN rate_spread_bps INTEGER NOT NULL DEFAULT 0;

-- Each exchange-rate provider's last good refresh, replaced whole on each
-- refresh, so a restarted gateway prices from it while it is fresh.
CREATE TABLE rate_snapshots (
	source TEXT NOT NULL,
	pair TEXT NOT NULL,
	rate TEXT NOT NULL, -- exact rational, "67000" or "134001/2"
	observed_at INTEGER NOT NULL,
	fetched_at INTEGER NOT NULL,
	CONSTRAINT rate_snapshots_pkey PRIMARY KEY (source, pair)
) STRICT;
