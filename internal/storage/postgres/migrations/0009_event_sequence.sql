-- Per-invoice event sequence numbers: every event about an invoice gets
-- 1, 2, 3... in write order, so receivers can order deliveries that arrive
-- out of order. invoices.event_seq is the last number handed out; the store
-- bumps it with an UPDATE in the event's own transaction, whose row lock
-- serialises concurrent writers (SQLite's single writer does there). Events
-- not about an invoice keep a NULL sequence.
ALTER TABLE invoices ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN sequence BIGINT;

-- Existing events are numbered in id order (ids are time-ordered).
UPDATE events SET sequence = numbered.n
FROM (
	SELECT id, ROW_NUMBER() OVER (PARTITION BY invoice_id ORDER BY id) AS n
	FROM events WHERE invoice_id IS NOT NULL
) AS numbered
WHERE numbered.id = events.id;
UPDATE invoices SET event_seq = counted.n
FROM (SELECT invoice_id, COUNT(*) AS n FROM events WHERE invoice_id IS NOT NULL GROUP BY invoice_id) AS counted
WHERE counted.invoice_id = invoices.id;

CREATE UNIQUE INDEX events_invoice_sequence_key ON events (invoice_id, sequence);
