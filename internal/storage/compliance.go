package storage

import (
	"context"
	"math/big"
	"time"
)

// ComplianceSettings are a store's transaction limits and retention
// policy. Limits are in minor units of Currency (the store's currency);
// 0 means no limit.
type ComplianceSettings struct {
	StoreID       string
	Currency      string
	MaxInvoice    int64 // largest single invoice
	Daily         int64 // invoices created per UTC day
	Monthly       int64 // invoices created per UTC calendar month
	CustomerDaily int64 // per customer_reference per UTC day
	// WarnBasisPoints: a warning alert when usage reaches this share of
	// a limit (8000 = 80 %).
	WarnBasisPoints int
	// PersonalRetentionDays: personal fields of invoices older than this
	// are redacted by the retention job; 0 keeps them until erased.
	PersonalRetentionDays int
	// FinancialRetentionDays: how long financial records are kept (they
	// are never deleted by the gateway; the figure is reported).
	FinancialRetentionDays int
	// RedactedThrough: invoices created before it had their personal
	// fields redacted by the retention job.
	RedactedThrough time.Time
	UpdatedAt       time.Time
}

// LimitUsage is one invoice counted against its store's limits.
type LimitUsage struct {
	InvoiceID string
	StoreID   string
	Subject   string // keyed hash of the customer reference; "" for none
	Value     int64  // minor units of the limits' currency
	At        time.Time
}

// Review is an item for staff to look at: opened by a monitoring alert
// that concerns an invoice or payment, with the evidence it rests on.
type Review struct {
	ID         string // "rev_…", time-ordered
	StoreID    string
	Livemode   bool
	InvoiceID  string
	Rule       string // the monitoring rule that raised it
	Title      string
	Text       string
	Evidence   ReviewEvidence
	Status     string // ReviewOpen or ReviewResolved
	OpenedAt   time.Time
	ResolvedAt *time.Time
	ResolvedBy string
	Note       string
}

// Review statuses.
const (
	ReviewOpen     = "open"
	ReviewResolved = "resolved"
)

// ReviewEvidence is what a review rests on: the invoice's deposit
// address, the payments' txids, amounts, senders and times.
type ReviewEvidence struct {
	Network  string            `json:"network"`
	Address  string            `json:"address"`
	Asset    string            `json:"asset"`
	Amount   string            `json:"amount"`
	Currency string            `json:"currency"`
	Payments []EvidencePayment `json:"payments"`
}

// EvidencePayment is one payment in a review's evidence.
type EvidencePayment struct {
	TxID   string `json:"txid"`
	Vout   uint32 `json:"vout"`
	Amount string `json:"amount"`
	// Asset is what the payment paid, in whose decimals Amount is; absent
	// in evidence recorded before payments carried their asset (then the
	// evidence's Asset).
	Asset       string    `json:"asset,omitempty"`
	FromAddress string    `json:"from_address"`
	Status      string    `json:"status"`
	SeenAt      time.Time `json:"seen_at"`
}

// ReviewFilter selects reviews newest first. An empty StoreID selects
// every store (operators only).
type ReviewFilter struct {
	StoreID  string
	Livemode *bool
	Status   string    // "" for any
	From, To time.Time // opened_at in [From, To); zero for unbounded
	Page
}

// IncidentAction is one incident-response action in force until the
// incident is closed: a freeze, a key revocation, a secret rotation.
type IncidentAction struct {
	ID        string // "inc_…", time-ordered
	Action    string
	Actor     string
	Details   map[string]any
	CreatedAt time.Time
	ClosedAt  *time.Time
}

// ComplianceReader holds the compliance queries.
type ComplianceReader interface {
	// GetComplianceSettings returns the store's settings or ErrNotFound.
	GetComplianceSettings(ctx context.Context, storeID string) (*ComplianceSettings, error)
	// SumLimitUsage sums the store's usage created in [since, until),
	// only of subject unless subject is "".
	SumLimitUsage(ctx context.Context, storeID, subject string, since, until time.Time) (*big.Int, error)
	GetReview(ctx context.Context, id string) (*Review, error)
	ListReviews(ctx context.Context, f ReviewFilter) ([]Review, bool, error)
	// ListOpenIncidentActions returns the actions not yet closed, oldest
	// first.
	ListOpenIncidentActions(ctx context.Context) ([]IncidentAction, error)
	// ListInvoiceIDsCreated returns up to limit ids of the store's
	// invoices created in [from, to), oldest first.
	ListInvoiceIDsCreated(ctx context.Context, storeID string, from, to time.Time, limit int) ([]string, error)
	// ListSubjectInvoices returns the ids of the subject's invoices,
	// oldest first.
	ListSubjectInvoices(ctx context.Context, subject string) ([]string, error)
}

// ComplianceTx holds the compliance writes.
type ComplianceTx interface {
	// PutComplianceSettings inserts or replaces the store's settings.
	PutComplianceSettings(ctx context.Context, s *ComplianceSettings) error
	// LockComplianceSettings returns the store's settings and holds them
	// until the transaction ends, so that concurrent transactions checking
	// the same store's limits run one after the other; ErrNotFound when
	// the store has none. (SQLite serialises every write transaction
	// already; PostgreSQL takes a row lock.)
	LockComplianceSettings(ctx context.Context, storeID string) (*ComplianceSettings, error)
	AddLimitUsage(ctx context.Context, u *LimitUsage) error
	CreateReview(ctx context.Context, r *Review) error
	// ResolveReview resolves an open review; ErrNotFound when there is no
	// open review with that id.
	ResolveReview(ctx context.Context, id, by, note string, at time.Time) error
	CreateIncidentAction(ctx context.Context, a *IncidentAction) error
	// CloseIncidentActions closes every open action and returns how many.
	CloseIncidentActions(ctx context.Context, at time.Time) (int64, error)
	SetRedactedThrough(ctx context.Context, storeID string, t time.Time) error
	// LinkSubjectInvoice records that invoiceID belongs to subject.
	LinkSubjectInvoice(ctx context.Context, subject, invoiceID string) error
	// ForgetSubject removes every trace of subject from the index and the
	// limit usage (amounts stay) and returns how many invoices it linked.
	ForgetSubject(ctx context.Context, subject string) (int64, error)
}
