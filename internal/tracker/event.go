package tracker

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// Kind says what happened to a payment.
type Kind int

const (
	// PaymentSeen: an output to a watched key was seen for the first time,
	// in the mempool (0 confirmations) or directly in a block (1).
	PaymentSeen Kind = iota + 1
	// ConfirmationsChanged: the payment's confirmation count went up (a
	// block was connected, or its transaction was mined) or down (a block
	// above the payment's block was disconnected).
	ConfirmationsChanged
	// ReorgedOut: the block holding the payment was disconnected; the
	// payment is back to 0 confirmations and keeps being tracked, so it is
	// reported again if a new branch mines it.
	ReorgedOut
	// DoubleSpent: another transaction spending an input of the payment's
	// transaction was seen (a replacement in the mempool or a conflicting
	// transaction in a block). Terminal: the payment is never credited and
	// gets no further events. ConflictTxID names the other transaction.
	DoubleSpent
	// Final: the payment reached Config.SafetyLimit confirmations. It is the
	// last event for the payment (it stands in for that last
	// ConfirmationsChanged) and the tracker forgets the payment. With a
	// SafetyLimit of 1 a payment first seen in a block gets PaymentSeen and
	// then Final in the same call.
	Final
)

var kindNames = [...]string{
	PaymentSeen:          "payment_seen",
	ConfirmationsChanged: "confirmations_changed",
	ReorgedOut:           "reorged_out",
	DoubleSpent:          "double_spent",
	Final:                "final",
}

// String returns the snake_case name of k, suitable for storage.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Payment is one output paying a watched key, with everything the watcher
// must persist to hand it back to Restore after a restart.
type Payment struct {
	Outpoint chain.Outpoint
	Key      chain.Key
	Amount   *big.Int // base units; never nil
	// TxSpends are the inputs of the paying transaction: another
	// transaction spending one of them is a double spend.
	TxSpends []chain.Outpoint
	RBF      bool   // the paying transaction signalled BIP125 replaceability
	From     string // sender address when the source could derive one
	// Block is the block on the best chain holding the transaction, or nil
	// while unconfirmed (and always nil once double spent).
	Block *chain.BlockRef
	// Confirmations is tip-height+1 while in a block, else 0.
	Confirmations int64
	// DoubleSpentBy is the txid of the conflicting transaction once the
	// payment is double spent, else "".
	DoubleSpentBy string
}

// clone returns a deep copy, so callers may keep or change what they get
// without touching the tracker's state.
func (p Payment) clone() Payment {
	c := p
	if p.Amount != nil {
		c.Amount = new(big.Int).Set(p.Amount)
	}
	c.TxSpends = slices.Clone(p.TxSpends)
	if p.Block != nil {
		b := *p.Block
		c.Block = &b
	}
	return c
}

// Event is one change to one payment, returned by Connect, Disconnect and
// Mempool for the watcher to store in the same transaction as the cursor.
type Event struct {
	Kind Kind
	// Payment is a copy of the payment after the change.
	Payment Payment
	// PreviousConfirmations is the count before the change (0 for
	// PaymentSeen).
	PreviousConfirmations int64
	// ConflictTxID is the double-spending transaction (DoubleSpent only).
	ConflictTxID string
}
