-- An optional expiry on webhook endpoints (SQLite; kept in step with the
-- PostgreSQL migration of the same number). A temporary endpoint, such as
-- the one `cryptopay listen` registers, is renewed while its receiver runs;
-- once expires_at passes, nothing more is delivered to it. NULL never
-- expires, which is what every existing endpoint gets.
ALTER TABLE webhook_endpoints ADD COLUMN expires_at INTEGER;
