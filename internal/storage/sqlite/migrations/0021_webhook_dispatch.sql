-- Webhook deliveries are claimed straight from this table by the webhook
-- dispatcher (SQLite; kept in step with the PostgreSQL migration of the
-- same number). claimed_until is the lease of the process attempting a
-- delivery: until then no other claim takes it; after it (the process
-- died mid-attempt) the delivery is due again, so it is delivered at least
-- once. The partial index serves the claim, which reads only pending
-- deliveries in the order they fall due.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until INTEGER;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
