-- The asset each payment is in, and the decimals of its base units (SQLite),
-- so a payment in another asset than its invoice's (wrong_asset: ether
-- sent to a USDC invoice's address, USDT to an ETH one) reads back in its
-- own units rather than the invoice's.
ALTER TABLE payments ADD COLUMN asset TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN asset_decimals INTEGER NOT NULL DEFAULT 0;

-- Existing payments: a counted one is in its invoice's asset. A wrong_asset
-- one at output 0 of an EVM transaction is the chain's native asset (18
-- decimals); one at a log position (1+) is a token, and every token the
-- registry admits has 6 decimals. Which token is known when the invoice
-- asks for the other one; for an ether invoice it is not, and the asset
-- stays '' (unknown) while the amount reads right.
UPDATE payments SET
	asset = (SELECT i.asset FROM invoices i WHERE i.id = payments.invoice_id),
	asset_decimals = (SELECT CASE i.asset WHEN 'BTC' THEN 8 WHEN 'ETH' THEN 18
		WHEN 'USDC' THEN 6 WHEN 'USDT' THEN 6 ELSE 0 END
		FROM invoices i WHERE i.id = payments.invoice_id)
WHERE status <> 'wrong_asset';
UPDATE payments SET
	asset = (SELECT CASE i.network WHEN 'polygon' THEN 'POL' WHEN 'bsc' THEN 'BNB' ELSE 'ETH' END
		FROM invoices i WHERE i.id = payments.invoice_id),
	asset_decimals = 18
WHERE status = 'wrong_asset' AND vout = 0;
UPDATE payments SET
	asset = (SELECT CASE i.asset WHEN 'USDC' THEN 'USDT' WHEN 'USDT' THEN 'USDC' ELSE '' END
		FROM invoices i WHERE i.id = payments.invoice_id),
	asset_decimals = 6
WHERE status = 'wrong_asset' AND vout > 0;

-- The last mined sweep of each EVM deposit address (internal/evm/sweep):
-- a deployAndFlush moves everything the address held at its block, so what
-- the gateway expects there afterwards is only what was recorded in later
-- blocks. The sweep's balance check compares against that and records any
-- excess (an internal transfer) as a payment.
CREATE TABLE evm_sweeps (
	invoice_id TEXT NOT NULL PRIMARY KEY REFERENCES invoices (id),
	swept_height INTEGER NOT NULL,
	tx_hash TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
