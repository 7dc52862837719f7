package storage

import (
	"context"
	"errors"
	"time"

	"github.com/cryptopay/cryptopay"
)

// Leadership is a lease row per kind of work (the chain watcher of one
// network), not a session lock: it survives a dropped connection, works
// through a transaction-mode pooler, and fences a leader that lost it.
// Each acquisition bumps the row's epoch, the fencing token; the leader
// renews well within the TTL and makes every write conditional on the
// epoch it holds (Tx.CheckLease), so a leader that paused past its expiry
// and was replaced cannot write any more. Expiry is judged by the
// database's clock (on PostgreSQL), never by comparing instances' clocks.

var (
	// ErrLeaseHeld: another holder's lease on the name has not expired.
	ErrLeaseHeld = errors.New("storage: lease held by another instance")
	// ErrLeaseLost: the lease moved on to a later epoch (another holder
	// took it, or the holder re-acquired it); the caller is no longer the
	// leader and must stop at once.
	ErrLeaseLost = errors.New("storage: lease lost")
)

// Lease is a lease row as stored. ExpiresAt is on the database's clock.
type Lease struct {
	Name      string
	Holder    string
	Epoch     int64
	ExpiresAt time.Time
}

// LeaseDB holds the lease operations. Each runs in a short transaction of
// its own.
type LeaseDB interface {
	// AcquireLease takes the lease on name for holder for ttl and returns
	// its new epoch: if no row exists, if the current lease has expired,
	// or if holder already holds it (a holder re-acquiring fences its own
	// older writes). Otherwise it returns ErrLeaseHeld.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (epoch int64, err error)
	// RenewLease extends holder's lease at epoch to ttl from now, or
	// returns ErrLeaseLost if the lease is at another epoch.
	RenewLease(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) error
	// ReleaseLease ends holder's lease at epoch now, so another instance
	// may take it at once; a lease already lost is left alone.
	ReleaseLease(ctx context.Context, name, holder string, epoch int64) error
}

// LeaseReader reads leases.
type LeaseReader interface {
	// GetLease returns the lease on name or ErrNotFound.
	GetLease(ctx context.Context, name string) (*Lease, error)
}

// LeaseTx fences a leader's transaction.
type LeaseTx interface {
	// CheckLease returns ErrLeaseLost unless the lease on name is still at
	// epoch, and otherwise holds the lease row until the transaction ends,
	// so no other instance can take the lease while this transaction's
	// writes are in flight. A leader calls it first in every transaction
	// it writes chain state in.
	CheckLease(ctx context.Context, name string, epoch int64) error
}

// InvoiceNotifier announces new invoices across instances.
type InvoiceNotifier interface {
	// ListenInvoices returns the addresses of invoices created by any
	// instance as their transactions commit, until ctx ends or the
	// listening connection fails; then the channel closes and the caller
	// polls (ListWatchedAddresses) and may listen again. It returns a nil
	// channel and nil error if the engine has no notifications (SQLite:
	// one process, which announces its invoices in-process).
	ListenInvoices(ctx context.Context) (<-chan WatchedAddress, error)
}

// LeaseName is the lease of the chain watcher of network.
func LeaseName(network cryptopay.Network) string { return "chain watcher " + string(network) }
