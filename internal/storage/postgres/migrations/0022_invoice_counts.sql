-- Invoices by network and status, for the metrics scrape
-- (cryptopay_invoices), which counted the whole invoices table each time.
-- Triggers record every insert, status change and delete of an invoice in
-- its own transaction as rows of invoice_count_deltas (+1 for the new
-- network and status, -1 for the old). Inserting a row takes no lock
-- another writer waits for; updating one counter row per status in place
-- would make every concurrent invoice creation queue on that row until
-- commit. The scrape folds the deltas into invoice_counts in one statement
-- (DELETE ... RETURNING, so a delta is folded exactly once even when two
-- instances scrape at once) and reads invoice_counts: its cost follows the
-- changes since the last scrape, not the number of invoices.
CREATE TABLE invoice_counts (
	network TEXT NOT NULL,
	status TEXT NOT NULL,
	n BIGINT NOT NULL,
	PRIMARY KEY (network, status)
);

CREATE TABLE invoice_count_deltas (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	network TEXT NOT NULL,
	status TEXT NOT NULL,
	delta INTEGER NOT NULL
);

INSERT INTO invoice_counts (network, status, n)
	SELECT network, status, COUNT(*) FROM invoices GROUP BY network, status;

CREATE FUNCTION invoice_counts_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO invoice_count_deltas (network, status, delta) VALUES (NEW.network, NEW.status, 1);
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO invoice_count_deltas (network, status, delta) VALUES (OLD.network, OLD.status, -1);
	ELSIF OLD.network <> NEW.network OR OLD.status <> NEW.status THEN
		INSERT INTO invoice_count_deltas (network, status, delta)
			VALUES (OLD.network, OLD.status, -1), (NEW.network, NEW.status, 1);
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER invoice_counts_record AFTER INSERT OR DELETE OR UPDATE OF network, status ON invoices
	FOR EACH ROW EXECUTE FUNCTION invoice_counts_record();
