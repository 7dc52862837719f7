package storage

import (
	"context"
	"time"

	"github.com/cryptopay/cryptopay"
)

// ChainState is what a chain watcher persists after every block, in the
// same transaction as the events and invoice changes the block caused:
// the cursor (height and hash of the last processed block) for operators,
// and the watcher's opaque snapshot (recent block hashes and the payments
// it still tracks) to resume exactly where it stopped.
type ChainState struct {
	Network   cryptopay.Network
	Height    int64
	Hash      string
	Snapshot  []byte
	UpdatedAt time.Time
}

// WatchedAddress is an invoice deposit address a watcher must look for.
type WatchedAddress struct {
	InvoiceID    string
	Network      cryptopay.Network
	Address      string
	MonitorUntil time.Time
	// Seq orders invoices by insertion across instances (not by any
	// instance's clock): the cursor of ListWatchedAddresses. Zero in
	// ListenInvoices announcements.
	Seq int64
}

// ChainReader holds the chain watcher's queries.
type ChainReader interface {
	// GetChainState returns the network's state or ErrNotFound before the
	// first block was processed.
	GetChainState(ctx context.Context, network cryptopay.Network) (*ChainState, error)
	// ListWatchedAddresses returns the addresses on network of invoices
	// still watched at now (monitor_until after now), in insertion order
	// (Seq), at most limit, strictly after the invoice with Seq afterSeq
	// (0 for the start). Seq is assigned at insert, so on PostgreSQL an
	// invoice may commit after a later one was listed: callers re-read a
	// little behind their cursor and rescan in full now and then.
	ListWatchedAddresses(ctx context.Context, network cryptopay.Network, now time.Time, afterSeq int64, limit int) ([]WatchedAddress, error)
	// ListInvoicesDue returns the ids of invoices on one of networks whose
	// state the clock changes at now: new past expires_at, processing past
	// monitor_until. Each network's settlement loop asks for its own.
	ListInvoicesDue(ctx context.Context, networks []cryptopay.Network, now time.Time, limit int) ([]string, error)
}

// ChainTx holds the chain watcher's writes.
type ChainTx interface {
	// PutChainState creates or replaces the network's state.
	PutChainState(ctx context.Context, s *ChainState) error
	// LockInvoice returns the invoice with its payments, locked against
	// concurrent writers until the transaction ends, or ErrNotFound.
	LockInvoice(ctx context.Context, id string) (*cryptopay.Invoice, error)
	// CreatePayment inserts a payment. The same (tx, vout, invoice) twice
	// is a *ConflictError on "payments_tx_vout_invoice_key".
	CreatePayment(ctx context.Context, p *cryptopay.Payment) error
	// UpdatePayment writes the mutable fields: block hash and height,
	// confirmations, conflicting transaction, status, confirmed_at.
	UpdatePayment(ctx context.Context, p *cryptopay.Payment) error
	// ReleasePayment records an operator's release of a held payment
	// (status, confirmed_at, released_at, released_by); ErrNotFound unless
	// the payment belongs to p.InvoiceID and is still held.
	ReleasePayment(ctx context.Context, p *cryptopay.Payment) error
}
