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
	// DoubleSpent: a transaction spending an input of the payment's
	// transaction is in a block of the best chain. It holds only while that
	// block stays in the best chain: a reorg that removes it brings the
	// payment back (Conflicted or Reinstated). ConflictTxID names the other
	// transaction.
	DoubleSpent
	// Final: the payment reached Config.SafetyLimit confirmations. It is the
	// last event for the payment (it stands in for that last
	// ConfirmationsChanged) and the tracker forgets the payment. With a
	// SafetyLimit of 1 a payment first seen in a block gets PaymentSeen and
	// then Final in the same call.
	Final
	// Conflicted: a transaction spending an input of the payment's
	// transaction entered the mempool after it, so the node dropped the
	// payment's transaction, or the node no longer lists it at all
	// (Payment.Dropped, ConflictTxID ""). A hint, never terminal: the
	// payment is not counted, but comes back if its own transaction is seen
	// again or mined. ConflictTxID names the other transaction.
	Conflicted
	// Reinstated: the conflict that took the payment away is gone (its
	// block left the best chain, or the payment's own transaction was
	// mined or seen again); the payment counts again. Payment carries its
	// block and confirmations if it is mined.
	Reinstated
)

var kindNames = [...]string{
	PaymentSeen:          "payment_seen",
	ConfirmationsChanged: "confirmations_changed",
	ReorgedOut:           "reorged_out",
	DoubleSpent:          "double_spent",
	Final:                "final",
	Conflicted:           "conflicted",
	Reinstated:           "reinstated",
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
	Asset    string   // chain.Output.Asset: "" for the native asset
	// TxSpends are the inputs of the paying transaction: another
	// transaction spending one of them is a double spend.
	TxSpends []chain.Outpoint
	RBF      bool   // the paying transaction signalled BIP125 replaceability
	From     string // sender address when the source could derive one
	// Block is the block on the best chain holding the transaction, or nil
	// while unconfirmed (and always nil while double spent).
	Block *chain.BlockRef
	// Confirmations is tip-height+1 while in a block, else 0.
	Confirmations int64
	// DoubleSpentBy is the txid of a conflicting transaction in a block of
	// the best chain, else "". Derived from the chain on every step: it is
	// cleared when that block leaves the best chain.
	DoubleSpentBy string
	// ConflictedBy is the txid of a conflicting transaction that entered
	// the mempool after the payment's (so the node dropped the payment's
	// transaction), else "". Never set together with DoubleSpentBy or Block.
	ConflictedBy string
	// Dropped: unconfirmed and no longer in the node's mempool, without a
	// known conflict (evicted, or replaced by a transaction never seen).
	// Not counted; it comes back if seen again or mined.
	Dropped bool
	// Seen orders mempool observations: the sequence number of the last
	// time the transaction entered the mempool (0 if it never did). Of
	// unconfirmed transactions spending one input, the node holds the one
	// seen last.
	Seen uint64
}

// Counted reports whether the payment is money on its way to us as the
// chain shows it: mined in the best chain, or unconfirmed without a
// conflict.
func (p Payment) Counted() bool {
	return p.Block != nil || (p.DoubleSpentBy == "" && p.ConflictedBy == "" && !p.Dropped)
}

// Conflict is a transaction that pays no watched key but spends an input
// of a tracked payment's transaction: the tracker keeps it (and where it
// is) so that a payment it took away comes back when it leaves the chain.
type Conflict struct {
	TxID   string
	Spends []chain.Outpoint
	Block  *chain.BlockRef // nil while unconfirmed
	Seen   uint64          // as Payment.Seen
}

func (c Conflict) clone() Conflict {
	c.Spends = slices.Clone(c.Spends)
	if c.Block != nil {
		b := *c.Block
		c.Block = &b
	}
	return c
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
	// ConflictTxID is the conflicting transaction (DoubleSpent and
	// Conflicted only).
	ConflictTxID string
}
