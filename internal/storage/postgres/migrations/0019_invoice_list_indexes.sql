-- Indexes for the filtered invoice lists (API and dashboard), led by
-- (store_id, livemode) like invoices_list_idx and invoices_status_idx, so
-- a page with a flag or price filter walks an index in id order and stops
-- after one page at any table size (see invoiceListQuery in
-- internal/storage/sqldb/invoice_list.go, which holds the query side).
--
-- Flagged invoices are few, so a partial index keeps only them: it costs
-- nothing on creation (new invoices carry no flags) and a flag filter
-- walks flagged invoices only. Queries must say "flags <> 0" literally
-- for the planner to use it.
CREATE INDEX invoices_flagged_idx ON invoices (store_id, livemode, id DESC) WHERE flags <> 0;
-- The price in base units (amount), then id: one ordered walk per price.
CREATE INDEX invoices_price_idx ON invoices (store_id, livemode, amount, id DESC);
