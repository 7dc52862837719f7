// Package storage defines the one interface every storage engine implements
// (SQLite, the embedded default, and PostgreSQL, the scale-out engine) and
// the errors engines translate their failures into.
//
// It holds no SQL. Each engine owns its SQL, its migrations and its error
// translation; the conformance suite in storagetest runs against both.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"math/big"
	"time"

	"github.com/cryptopay/cryptopay"
)

// Errors returned by every engine. Engines translate constraint violations
// by SQLSTATE or SQLite extended code, never by message text.
var (
	// ErrNotFound: no row matched.
	ErrNotFound = errors.New("storage: not found")
	// ErrSchemaOutdated: the database schema is older than this binary;
	// run migrations.
	ErrSchemaOutdated = errors.New("storage: schema is outdated; run `cryptopay migrate` or `serve --migrate`")
	// ErrSchemaTooNew: the database was migrated by a newer binary.
	ErrSchemaTooNew = errors.New("storage: schema is newer than this binary")
	// ErrForeignKey: a write referenced a row that does not exist (for
	// example an invoice for an unknown store). Engines wrap it; test with
	// errors.Is.
	ErrForeignKey = errors.New("storage: referenced row does not exist")
)

// ConflictError reports a unique-constraint violation. Constraint names the
// violated constraint as declared in the migrations (for example
// "invoices_store_order_key").
type ConflictError struct {
	Constraint string
	Err        error
}

func (e *ConflictError) Error() string { return "storage: conflict on " + e.Constraint }
func (e *ConflictError) Unwrap() error { return e.Err }

// DB is an open database of one engine.
type DB interface {
	Reader
	// InTx runs fn in a write transaction and commits if fn returns nil. On
	// SQLite write transactions are serialised through one connection; on
	// PostgreSQL they run concurrently at READ COMMITTED and rely on row
	// locks (FOR UPDATE) where the reader needs them.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Migrate applies pending migrations; applying twice is a no-op.
	Migrate(ctx context.Context) (applied int, err error)
	// SchemaVersion returns the applied and the latest known migration.
	SchemaVersion(ctx context.Context) (current, latest int, err error)
	// CheckSchema returns ErrSchemaOutdated or ErrSchemaTooNew unless the
	// schema is exactly current.
	CheckSchema(ctx context.Context) error
	Ping(ctx context.Context) error
	// Engine names the engine: "sqlite" or "postgres".
	Engine() string
	// TryLeadership makes this process the only one doing the work named
	// name (one chain watcher per chain across instances): on PostgreSQL a
	// session advisory lock held on a dedicated connection until release;
	// on SQLite, where one gateway owns the file, always granted.
	TryLeadership(ctx context.Context, name string) (held bool, release func(), err error)
	// SQL returns the underlying write handle, for job queues that must
	// share transactions with the store.
	SQL() *sql.DB
	Close() error
}

// Reader holds the queries that run outside a write transaction (on
// SQLite, on the reader pool). A Tx also satisfies it, reading its own
// writes.
type Reader interface {
	GetStore(ctx context.Context, id string) (*cryptopay.Store, error)
	ListStores(ctx context.Context) ([]cryptopay.Store, error)

	GetAPIKey(ctx context.Context, id string) (*cryptopay.APIKey, error)
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*cryptopay.APIKey, error)
	ListAPIKeys(ctx context.Context, storeID string) ([]cryptopay.APIKey, error)

	// GetInvoice returns the invoice with its payments.
	GetInvoice(ctx context.Context, id string) (*cryptopay.Invoice, error)
	GetInvoiceByOrderID(ctx context.Context, storeID, orderID string) (*cryptopay.Invoice, error)
	GetInvoiceByAddress(ctx context.Context, network cryptopay.Network, address string) (*cryptopay.Invoice, error)
	// ListInvoices returns invoices newest first, each with its payments
	// (as GetInvoice), reading the page's payments in one query.
	ListInvoices(ctx context.Context, f InvoiceFilter) ([]cryptopay.Invoice, bool, error)

	ListEvents(ctx context.Context, f EventFilter) ([]cryptopay.Event, bool, error)

	GetIdempotencyRecord(ctx context.Context, storeID, key string) (*IdempotencyRecord, error)

	ChainReader
	AuditReader
	WebhookReader
	MonitorReader
	KeyUsageReader
}

// Tx is a write transaction.
type Tx interface {
	Reader
	AuditTx

	CreateStore(ctx context.Context, s *cryptopay.Store) error
	// ReserveAddressIndexes reserves n consecutive unused derivation
	// indexes of the store's wallet on network and returns the first,
	// atomically with respect to every other transaction on either engine.
	// An index is never handed out twice.
	ReserveAddressIndexes(ctx context.Context, storeID string, network cryptopay.Network, n uint32) (uint32, error)

	CreateAPIKey(ctx context.Context, k *cryptopay.APIKey) error
	// UpdateAPIKey writes the fields revocation and rotation change:
	// RevokedAt and RotatedTo.
	UpdateAPIKey(ctx context.Context, k *cryptopay.APIKey) error
	// TouchAPIKey records a use of key id. It writes only last_used_at and
	// last_used_ip, so it can never undo a concurrent revocation.
	TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error

	// CreateInvoice inserts an invoice. A second invoice with the same
	// (store, order id) is a *ConflictError on "invoices_store_order_key".
	CreateInvoice(ctx context.Context, inv *cryptopay.Invoice) error
	// UpdateInvoice writes the mutable fields: Status, Flags, AmountPaid,
	// AmountConfirmed, RequiredConfirmations, SettledAt.
	UpdateInvoice(ctx context.Context, inv *cryptopay.Invoice) error

	CreateEvent(ctx context.Context, e *cryptopay.Event) error

	// PutIdempotencyRecord stores the first response to an idempotent
	// request. A second record with the same (store, key) is a
	// *ConflictError.
	PutIdempotencyRecord(ctx context.Context, r *IdempotencyRecord) error
	// DeleteIdempotencyRecords removes records created before cutoff.
	DeleteIdempotencyRecords(ctx context.Context, cutoff time.Time) (int64, error)

	ChainTx
	WebhookTx
	MonitorTx
	KeyUsageTx
}

// Page bounds a list query: at most Limit rows, strictly after the row
// with id StartingAfter (ids are time-ordered, lists are newest first, so
// "after" means older).
type Page struct {
	Limit         int
	StartingAfter string
}

// InvoiceFilter selects invoices of one store and mode.
type InvoiceFilter struct {
	StoreID  string
	Livemode bool
	Status   cryptopay.Status // "" for any
	OrderID  string           // "" for any
	Page
}

// EventFilter selects events of one store and mode.
type EventFilter struct {
	StoreID   string
	Livemode  bool
	InvoiceID string              // "" for any
	Type      cryptopay.EventType // "" for any
	Page
}

// IdempotencyRecord is the first response to a request made with an
// Idempotency-Key: replayed for the same key and body, refused for a
// different body.
type IdempotencyRecord struct {
	StoreID     string
	Key         string
	Method      string
	Path        string
	RequestHash []byte // SHA-256 of method, path and body
	Status      int
	Body        []byte
	CreatedAt   time.Time
}

// BigText and ParseBigText convert amounts to and from the decimal integer
// text engines store them as. Amounts are never summed in SQL, so both
// engines keep them as text and arithmetic happens exactly in Go.
func BigText(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

// ParseBigText parses a stored amount.
func ParseBigText(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, errors.New("storage: malformed stored amount")
	}
	return v, nil
}
