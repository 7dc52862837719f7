-- The price exactly as the shop sent it ("0.0015"), so the API and every
-- event echo it unchanged and a shop comparing strings (the security
-- guide's validatePayment) accepts its own price. '' for invoices created
-- before it was kept: readers fall back to the amount at the currency's
-- precision.
ALTER TABLE invoices ADD COLUMN amount_text TEXT NOT NULL DEFAULT '';
