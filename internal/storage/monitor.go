package storage

import (
	"context"
	"time"

	"github.com/cryptopay/cryptopay"
)

// BlockedAddress is a sending address whose payments are held rather than
// credited, blocked by the failed-payment rule (BlockedBy "system") or by
// an operator.
type BlockedAddress struct {
	ID        string // "blk_…", time-ordered
	Network   cryptopay.Network
	Address   string
	Reason    string
	Failures  int // failed payments counted when it was blocked
	BlockedAt time.Time
	BlockedBy string // "system" or the operator
}

// AddressFailure is one failed payment from a sending address: a payment
// double spent by a transaction mined in the best chain.
type AddressFailure struct {
	Network   cryptopay.Network
	Address   string
	PaymentID string
	InvoiceID string
	Reason    string
	At        time.Time
}

// BlockedAddressFilter selects blocked addresses, newest first.
type BlockedAddressFilter struct {
	Networks []cryptopay.Network // nil for every network
	Page
}

// MonitorReader holds the payment-monitoring queries.
type MonitorReader interface {
	// GetBlockedAddress returns the block on (network, address), or
	// ErrNotFound when the address is not blocked.
	GetBlockedAddress(ctx context.Context, network cryptopay.Network, address string) (*BlockedAddress, error)
	// ListBlockedAddresses returns the filter's blocks newest first and
	// whether more follow.
	ListBlockedAddresses(ctx context.Context, f BlockedAddressFilter) ([]BlockedAddress, bool, error)
	// CountAddressFailures counts the address's failures recorded at or
	// after since.
	CountAddressFailures(ctx context.Context, network cryptopay.Network, address string, since time.Time) (int, error)
	// CountAddressInvoices counts the distinct invoices on network that
	// payments from address first seen at or after since went to.
	CountAddressInvoices(ctx context.Context, network cryptopay.Network, address string, since time.Time) (int, error)
}

// MonitorTx holds the payment-monitoring writes.
type MonitorTx interface {
	// RecordAddressFailure records a failure once: the same (network,
	// address, payment, reason) again is ignored and reports false.
	RecordAddressFailure(ctx context.Context, f *AddressFailure) (bool, error)
	// BlockAddress inserts a block. A second block of the same (network,
	// address) is a *ConflictError on "blocked_addresses_pkey".
	BlockAddress(ctx context.Context, b *BlockedAddress) error
	// UnblockAddress removes the block and forgets the address's recorded
	// failures (so the next failure does not block it again at once), or
	// returns ErrNotFound when it was not blocked.
	UnblockAddress(ctx context.Context, network cryptopay.Network, address string) error
	// DeleteAddressFailures removes failures recorded before cutoff,
	// which no window reaches any more.
	DeleteAddressFailures(ctx context.Context, cutoff time.Time) (int64, error)
	// ForgetPaymentFailures removes the failures recorded for one payment
	// from address: its double spend left the best chain and the payment
	// was reinstated, so nothing was taken away. A block it helped cause
	// stays (an operator lifts blocks).
	ForgetPaymentFailures(ctx context.Context, network cryptopay.Network, address, paymentID string) error
}
