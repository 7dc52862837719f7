-- An operator's release of a held payment (PostgreSQL; kept in step with
-- the SQLite migration of the same number). A payment from a blocked
-- sending address is recorded held and never credited; released_at and
-- released_by say who let it count, and when. From then on the watcher
-- tracks it like any other payment. NULL and '' for every payment never
-- released, which is what every existing payment gets.
ALTER TABLE payments ADD COLUMN released_at BIGINT;
ALTER TABLE payments ADD COLUMN released_by TEXT NOT NULL DEFAULT '';
