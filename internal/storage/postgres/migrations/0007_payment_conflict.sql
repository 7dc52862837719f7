-- The transaction that double spent a payment, so the API and the
-- payment.double_spent event can name it.
ALTER TABLE payments ADD COLUMN conflict_tx_id TEXT NOT NULL DEFAULT '';
