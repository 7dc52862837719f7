package storage

import (
	"context"
	"time"

	"github.com/cryptopay/cryptopay"
)

// SweepCandidate is an EVM invoice whose deposit address the sweeper looks
// at: its id and the block of the last mined sweep of its address (0 for
// none). Everything the address held at that block was moved on, so only
// payments recorded in later blocks are expected there now.
type SweepCandidate struct {
	InvoiceID   string
	SweptHeight int64
}

// EVMSweepReader holds the sweeper's queries.
type EVMSweepReader interface {
	// ListSweepCandidates returns the invoices on network watched after
	// since (monitor_until > since), by id, at most limit, strictly after
	// afterID ("" for the start), each with its last sweep's height.
	ListSweepCandidates(ctx context.Context, network cryptopay.Network, since time.Time, afterID string, limit int) ([]SweepCandidate, error)
}

// EVMSweepTx holds the sweeper's write.
type EVMSweepTx interface {
	// RecordSweep notes that the sweep txHash, mined at height, emptied the
	// invoice's deposit address. A lower height than the one recorded
	// changes nothing, so replaying a receipt is harmless.
	RecordSweep(ctx context.Context, invoiceID string, height int64, txHash string, now time.Time) error
}
