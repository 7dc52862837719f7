-- Invoices by network and status, kept by triggers in the transaction of
-- every insert, status change and delete of an invoice, so the metrics
-- scrape (cryptopay_invoices) reads a handful of rows instead of counting
-- the whole invoices table. SQLite has one writer, so the triggers update
-- the counts in place: no writer waits on another for them.
CREATE TABLE invoice_counts (
	network TEXT NOT NULL,
	status TEXT NOT NULL,
	n INTEGER NOT NULL,
	PRIMARY KEY (network, status)
) WITHOUT ROWID;

INSERT INTO invoice_counts (network, status, n)
	SELECT network, status, COUNT(*) FROM invoices GROUP BY network, status;

CREATE TRIGGER invoice_counts_insert AFTER INSERT ON invoices BEGIN
	INSERT INTO invoice_counts (network, status, n) VALUES (NEW.network, NEW.status, 1)
		ON CONFLICT (network, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER invoice_counts_update AFTER UPDATE OF network, status ON invoices
	WHEN OLD.network <> NEW.network OR OLD.status <> NEW.status BEGIN
	UPDATE invoice_counts SET n = n - 1 WHERE network = OLD.network AND status = OLD.status;
	INSERT INTO invoice_counts (network, status, n) VALUES (NEW.network, NEW.status, 1)
		ON CONFLICT (network, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER invoice_counts_delete AFTER DELETE ON invoices BEGIN
	UPDATE invoice_counts SET n = n - 1 WHERE network = OLD.network AND status = OLD.status;
END;
