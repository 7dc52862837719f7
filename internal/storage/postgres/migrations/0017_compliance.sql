-- Compliance and incident response (PostgreSQL): per-store limits and
-- retention, the usage limits are counted against, review items opened by
-- monitoring alerts, and the incident actions in force. Kept column for
-- column in step with SQLite.
CREATE TABLE store_compliance (
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	-- Limits in minor units of currency; 0 means no limit.
	currency TEXT NOT NULL,
	max_invoice BIGINT NOT NULL,
	daily BIGINT NOT NULL,
	monthly BIGINT NOT NULL,
	customer_daily BIGINT NOT NULL,
	warn_basis_points INTEGER NOT NULL,
	-- Retention in days; 0 keeps personal data until erased.
	personal_retention_days INTEGER NOT NULL,
	financial_retention_days INTEGER NOT NULL,
	-- Invoices created before this instant (micros) had their personal
	-- fields redacted by the retention job.
	redacted_through BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	CONSTRAINT store_compliance_pkey PRIMARY KEY (store_id)
);

CREATE TABLE limit_usage (
	invoice_id TEXT COLLATE "C" NOT NULL REFERENCES invoices (id),
	store_id TEXT COLLATE "C" NOT NULL,
	subject TEXT COLLATE "C" NOT NULL, -- keyed hash of the customer reference, '' for none
	value BIGINT NOT NULL, -- minor units of store_compliance.currency
	created_at BIGINT NOT NULL,
	CONSTRAINT limit_usage_pkey PRIMARY KEY (invoice_id)
);
CREATE INDEX limit_usage_store_idx ON limit_usage (store_id, created_at);
CREATE INDEX limit_usage_subject_idx ON limit_usage (store_id, subject, created_at);

CREATE TABLE reviews (
	id TEXT COLLATE "C" NOT NULL,
	store_id TEXT COLLATE "C" NOT NULL,
	livemode BOOLEAN NOT NULL,
	invoice_id TEXT COLLATE "C" NOT NULL,
	rule TEXT NOT NULL,
	title TEXT NOT NULL,
	text TEXT NOT NULL,
	evidence TEXT NOT NULL, -- JSON
	status TEXT NOT NULL,
	opened_at BIGINT NOT NULL,
	resolved_at BIGINT,
	resolved_by TEXT NOT NULL,
	note TEXT NOT NULL,
	CONSTRAINT reviews_pkey PRIMARY KEY (id)
);
CREATE INDEX reviews_store_idx ON reviews (store_id, livemode, id);
CREATE INDEX reviews_opened_idx ON reviews (opened_at);

CREATE TABLE incident_actions (
	id TEXT COLLATE "C" NOT NULL,
	action TEXT NOT NULL,
	actor TEXT NOT NULL,
	details TEXT NOT NULL, -- JSON
	created_at BIGINT NOT NULL,
	closed_at BIGINT,
	CONSTRAINT incident_actions_pkey PRIMARY KEY (id)
);
CREATE INDEX incident_actions_open_idx ON incident_actions (closed_at, action);

-- Which invoices belong to a data subject (keyed hash of a customer
-- reference): the index erasure and export go through, without the
-- reference itself.
CREATE TABLE subject_invoices (
	subject TEXT COLLATE "C" NOT NULL,
	invoice_id TEXT COLLATE "C" NOT NULL REFERENCES invoices (id),
	CONSTRAINT subject_invoices_pkey PRIMARY KEY (subject, invoice_id)
);
