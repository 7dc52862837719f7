package storage

import (
	"context"
	"errors"

	"github.com/cryptopay/cryptopay"
)

// NewInvoice is a new invoice with every row its creation writes beside
// it: its invoice.created event and that event's webhook deliveries. It is
// the one write common enough to batch across callers (InvoiceCreator).
type NewInvoice struct {
	Invoice *cryptopay.Invoice
	// Event is the invoice's invoice.created event: its first, written
	// with Sequence 1 (the invoice's event_seq starts there).
	Event *cryptopay.Event
	// Deliveries are Event's pending webhook deliveries, one per
	// subscribed endpoint (possibly none).
	Deliveries []*cryptopay.WebhookDelivery
	// UnlessIncident, if set, names an incident action (see
	// IncidentAction): while one of that name is open, the invoice is not
	// written (ErrNotInserted). Empty: no such check.
	UnlessIncident string
}

// ErrNotInserted: CreateNewInvoice wrote nothing, because the invoice met
// a unique key (its store's order id, its network's address), an open
// incident action named by UnlessIncident, or a failure of the batch it
// was part of (wrapped beside it). The caller runs the general path (an
// InTx callback writing the same rows), which tells exactly why, or
// succeeds.
var ErrNotInserted = errors.New("storage: new invoice not inserted; take the general path")

// InvoiceCreator writes new invoices in batches: concurrent callers share
// one statement per table and one commit (on PostgreSQL one statement in
// all), so a burst of creations costs a few round trips, not a few per
// invoice.
type InvoiceCreator interface {
	// CreateNewInvoice writes n.Invoice (its sealed columns sealed as
	// Tx.CreateInvoice seals them), n.Event and n.Deliveries in one
	// transaction, all or nothing, and returns once they are durable; or
	// ErrNotInserted having written none of them. Another caller's
	// failure never fails this one: a batch that fails as a whole answers
	// ErrNotInserted to each of its callers, to retry alone.
	CreateNewInvoice(ctx context.Context, n *NewInvoice) error
}

// AddressReserver reserves derivation indexes outside a caller's
// transaction.
type AddressReserver interface {
	// ReserveAddressIndexes is Tx.ReserveAddressIndexes in a transaction
	// of its own, committed when it returns.
	ReserveAddressIndexes(ctx context.Context, storeID string, network cryptopay.Network, n uint32) (AddressBlock, error)
}
