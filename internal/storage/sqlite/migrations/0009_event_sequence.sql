-- Per-invoice event sequence numbers: every event about an invoice gets
-- 1, 2, 3... in write order, so receivers can order deliveries that arrive
-- out of order. invoices.event_seq is the last number handed out; the store
-- bumps it in the event's own transaction (the single writer serialises it
-- here; PostgreSQL's row lock does there). Events not about an invoice keep
-- a NULL sequence.
ALTER TABLE invoices ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN sequence INTEGER;

-- Existing events are numbered in id order (ids are time-ordered).
UPDATE events SET sequence = (
	SELECT n FROM (
		SELECT id, ROW_NUMBER() OVER (PARTITION BY invoice_id ORDER BY id) AS n
		FROM events WHERE invoice_id IS NOT NULL
	) AS numbered WHERE numbered.id = events.id
) WHERE invoice_id IS NOT NULL;
UPDATE invoices SET event_seq = (
	SELECT COUNT(*) FROM events WHERE events.invoice_id = invoices.id
);

CREATE UNIQUE INDEX events_invoice_sequence_key ON events (invoice_id, sequence);
