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
	"strconv"
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
	// ErrUnavailable: the database cannot be reached (connection refused or
	// lost, the server shutting down, restarting or not yet accepting
	// connections). Engines wrap it around the driver's error; test with
	// errors.Is. Retrying later may succeed. It is a client-facing
	// *cryptopay.Error, so the API answers 503 database_unavailable without
	// revealing the driver's text.
	ErrUnavailable error = &cryptopay.Error{Code: cryptopay.CodeDatabaseUnavailable,
		Message: "The database is unavailable; retry shortly."}
)

// UnavailableError wraps a driver error that means the database cannot be
// reached, so that errors.Is(err, ErrUnavailable) holds and the message
// shows no driver text.
func UnavailableError(cause error) error { return &unavailableError{cause: cause} }

type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return "storage: database unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

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
	// Leadership: one chain watcher per network across instances (lease.go).
	LeaseDB
	InvoiceNotifier
	InvoiceCreator
	AddressReserver
	// SQL returns the underlying write handle, for job queues that must
	// share transactions with the store.
	SQL() *sql.DB
	Close() error
}

// AddressBlock is a reservation of derivation indexes [First, First+n)
// under the account key the wallet held when they were reserved.
type AddressBlock struct {
	First         uint32
	AccountKey    string
	Fingerprint   string
	KeyGeneration int64
}

// Reader holds the queries that run outside a write transaction (on
// SQLite, on the reader pool). A Tx also satisfies it, reading its own
// writes.
type Reader interface {
	GetStore(ctx context.Context, id string) (*cryptopay.Store, error)
	ListStores(ctx context.Context) ([]cryptopay.Store, error)
	// WalletKeyResumeIndex returns the index a key the store's wallet on
	// network held before (fingerprint) would resume at, and false when
	// the store never held the key (it would start at 0).
	WalletKeyResumeIndex(ctx context.Context, storeID string, network cryptopay.Network, fingerprint string) (uint32, bool, error)

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
	// GetEvent returns the event with id, or ErrNotFound.
	GetEvent(ctx context.Context, id string) (*cryptopay.Event, error)

	// GetIdempotencyRecord returns the record API key apiKeyID made under
	// Idempotency-Key key, or ErrNotFound. Records of other API keys are
	// never visible, even within one store.
	GetIdempotencyRecord(ctx context.Context, apiKeyID, key string) (*IdempotencyRecord, error)

	ChainReader
	LeaseReader
	AuditReader
	WebhookReader
	MonitorReader
	KeyUsageReader
	RatesReader
	DashboardReader
	StoreSettingsReader
	ComplianceReader
	EVMSweepReader
}

// Tx is a write transaction.
type Tx interface {
	Reader
	AuditTx

	CreateStore(ctx context.Context, s *cryptopay.Store) error
	// LockStore returns the store with its wallets and holds its row until
	// the transaction ends, or ErrNotFound.
	LockStore(ctx context.Context, id string) (*cryptopay.Store, error)
	// UpdateStore writes the settings that may change after creation:
	// Name, InvoiceExpiry, MonitoringWindow, ToleranceBasisPoints,
	// Confirmations and RateSpreadBasisPoints. An unknown store is
	// ErrNotFound.
	UpdateStore(ctx context.Context, s *cryptopay.Store) error
	// ReplaceWalletKey makes accountKey (fingerprint) the key of the
	// store's wallet on network and returns the wallet as it now is. The
	// old key's next index is recorded; the new key starts at 0 when the
	// store never held it, else where it stopped, so no index of a key is
	// handed out twice and a wallet restored from the new key finds every
	// payment to it. The key generation grows by one. A key another
	// store's wallet holds is a *ConflictError on
	// "wallets_network_fingerprint_key"; no such wallet is ErrNotFound.
	ReplaceWalletKey(ctx context.Context, storeID string, network cryptopay.Network, accountKey, fingerprint string) (cryptopay.Wallet, error)
	// ReserveAddressIndexes reserves n consecutive unused derivation
	// indexes of the store's wallet on network, under the key the wallet
	// holds, and returns them with that key, read in the same atomic row
	// update on either engine. An index of a key is never handed out
	// twice.
	ReserveAddressIndexes(ctx context.Context, storeID string, network cryptopay.Network, n uint32) (AddressBlock, error)

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

	// CreateEvent inserts an event and assigns its per-invoice Sequence.
	// It queues no webhook deliveries: services write events through their
	// Outbox (implemented by internal/webhook), which calls it and enqueues
	// the deliveries in the same transaction.
	CreateEvent(ctx context.Context, e *cryptopay.Event) error

	// PutIdempotencyRecord inserts r. A second record with the same (API
	// key, key) is a *ConflictError on "idempotency_records_pkey"; on
	// PostgreSQL the insert first waits for a concurrent transaction that
	// inserted the same pair, so a request can claim its key in the
	// transaction that makes its effect. The transaction stays usable after
	// the conflict on both engines.
	PutIdempotencyRecord(ctx context.Context, r *IdempotencyRecord) error
	// CompleteIdempotencyRecord stores the response of a pending record:
	// State becomes IdempotencyDone with Status and Body. A record that is
	// missing or not pending is ErrNotFound.
	CompleteIdempotencyRecord(ctx context.Context, apiKeyID, key string, status int, body []byte) error
	// DeleteIdempotencyRecords removes records created before cutoff.
	DeleteIdempotencyRecords(ctx context.Context, cutoff time.Time) (int64, error)

	ChainTx
	LeaseTx
	WebhookTx
	MonitorTx
	KeyUsageTx
	RatesTx
	DashboardTx
	StoreSettingsTx
	ComplianceTx
	EVMSweepTx
}

// Page bounds a list query: at most Limit rows, strictly after the row
// with id StartingAfter (ids are time-ordered, lists are newest first, so
// "after" means older).
type Page struct {
	Limit         int
	StartingAfter string
}

// InvoiceFilter selects invoices of one store and mode. Every field is
// served by an index whose leading columns are (store_id, livemode), so a
// page costs about the same at any table size and any depth; the
// filters combine with AND.
type InvoiceFilter struct {
	StoreID  string
	Livemode bool
	Status   cryptopay.Status // "" for any
	OrderID  string           // "" for any
	// Flag, when not 0, keeps invoices carrying every bit of it.
	Flag cryptopay.Flag
	// Prices, when not empty, keeps invoices whose price is one of them.
	Prices []Price
	// CreatedFrom and CreatedBefore, when not zero, bound the creation
	// time (from inclusive, before exclusive), to the millisecond. They
	// are served as a range of ids, which are time-ordered.
	CreatedFrom, CreatedBefore time.Time
	Page
}

// Price is an invoice price: Amount in base units of any of Currencies
// (which share their number of decimals, so one amount serves them all).
type Price struct {
	Amount     *big.Int
	Currencies []string
}

// EventFilter selects events of one store and mode.
type EventFilter struct {
	StoreID   string
	Livemode  bool
	InvoiceID string              // "" for any
	Type      cryptopay.EventType // "" for any
	Page
}

// IdempotencyRecord is what a request made with an Idempotency-Key left:
// written in the transaction of its effect, so the effect and the record
// commit together, then completed with the response when that may be
// replayed.
type IdempotencyRecord struct {
	APIKeyID    string // the API key that made the request; records are scoped to it
	Key         string // the Idempotency-Key header
	Method      string
	Path        string
	RequestHash []byte // SHA-256 of method, path and body
	State       IdempotencyState
	Status      int    // the response status; 0 while pending
	Body        []byte // the response body; empty unless State is IdempotencyDone
	CreatedAt   time.Time
}

// IdempotencyState is where an idempotent request stands.
type IdempotencyState string

// The states of an idempotency record.
const (
	// IdempotencyPending: the effect has committed; its response is not
	// recorded yet (the request is still answering, or the process stopped
	// before it could record it).
	IdempotencyPending IdempotencyState = "pending"
	// IdempotencyDone: Status and Body hold the response, to be replayed.
	IdempotencyDone IdempotencyState = "done"
	// IdempotencySecretShown: the response carried a secret (an API key or
	// a webhook signing secret) that is shown exactly once; the response is
	// never stored, so it can never be replayed.
	IdempotencySecretShown IdempotencyState = "secret_shown"
)

// BigText and ParseBigText convert amounts to and from the decimal integer
// text engines store them as. Amounts are never summed in SQL, so both
// engines keep them as text and arithmetic happens exactly in Go.
func BigText(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

// allDigits reports whether s is only ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseBigText parses a stored amount.
func ParseBigText(s string) (*big.Int, error) {
	// Most stored amounts fit an int64: parsing those with strconv costs
	// two allocations instead of SetString's four (a list parses four
	// amounts per invoice). Anything else, including every malformed
	// text, takes SetString's path and its verdict.
	if len(s) > 0 && len(s) <= 18 && allDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return new(big.Int).SetInt64(n), nil
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, errors.New("storage: malformed stored amount")
	}
	return v, nil
}
