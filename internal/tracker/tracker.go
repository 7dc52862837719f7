// Package tracker is the pure, chain-agnostic confirmation tracker: fed
// blocks in order (Connect), block removals during a reorganisation
// (Disconnect) and mempool transactions (Mempool), it follows every output
// paying a watched key and returns what changed as Event values: payment
// seen, confirmations changed, reorged out, double spent, final.
//
// It is not a chain client: it does no I/O, has no clock and starts no
// goroutines. The watcher that feeds it stores the returned events, the
// invoice changes and the chain cursor (Recent) in one database transaction,
// and after a restart hands Recent and Payments back to Restore; everything
// the tracker knows is in those two values. It does not decide when a
// payment is credited either: that policy (3, 12 or 24 confirmations) lives
// with the invoice; the tracker only counts, up to Config.SafetyLimit.
//
// A Tracker is not safe for concurrent use; the watcher drives it from one
// goroutine. The WatchSet it reads may be changed concurrently.
package tracker

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// DefaultSafetyLimit is the reorg depth kept when Config.SafetyLimit is
// unset: deeper than any Bitcoin reorg seen in practice, and the point at
// which a payment is final.
const DefaultSafetyLimit = 100

var (
	// ErrOutOfOrder: Connect got a block that is not the child of the tip,
	// or Disconnect a block that is not the tip. Nothing changed; the
	// watcher must find the fork point (compare Recent with the node) and
	// feed blocks in order.
	ErrOutOfOrder = errors.New("tracker: block out of order")
	// ErrReorgTooDeep: Disconnect was asked to remove the oldest block the
	// tracker remembers, so the reorg is deeper than Config.SafetyLimit (or
	// than the history since the tracker started). The tracker halts.
	ErrReorgTooDeep = errors.New("tracker: reorg deeper than the safety limit")
	// ErrHalted: the tracker refused a deeper reorg earlier and does nothing
	// until Restore; payments must not be credited meanwhile.
	ErrHalted = errors.New("tracker: halted after a reorg deeper than the safety limit")
	// ErrBadBlock: Connect got a block without a hash, which could never be
	// told apart from another block at its height. Nothing changed.
	ErrBadBlock = errors.New("tracker: block has no hash")
	// ErrBadSnapshot: Restore got state that cannot come from Recent and
	// Payments of one tracker with this Config.
	ErrBadSnapshot = errors.New("tracker: inconsistent snapshot")
)

// Config tunes a Tracker.
type Config struct {
	// SafetyLimit is how many recent blocks are kept for reorgs and the
	// confirmation count at which a payment is final and dropped. Zero or
	// negative means DefaultSafetyLimit.
	SafetyLimit int
}

// blockEntry is one remembered block and the confirmed payments in it,
// sorted by outpoint so that the order survives Restore (which cannot know
// the transactions' positions in the block).
type blockEntry struct {
	ref  chain.BlockRef
	pays []chain.Outpoint
}

// txEntry groups the tracked payments of one transaction: they share their
// inputs, their block and their fate when the transaction is double spent.
type txEntry struct {
	ops           []chain.Outpoint // ascending output index
	spends        []chain.Outpoint
	block         *chain.BlockRef // nil while unconfirmed
	doubleSpentBy string
}

// Tracker follows payments to watched keys through blocks, reorgs and
// double spends. Create it with New.
type Tracker struct {
	limit int
	watch *WatchSet

	blocks  []blockEntry // ascending, contiguous, at most limit
	pays    map[chain.Outpoint]*Payment
	txs     map[string]*txEntry
	spentBy map[chain.Outpoint]string // input -> live (not double spent) tracked tx
	halted  bool
}

// New returns an empty tracker reporting payments to the keys in watch (a
// nil watch set watches nothing). The first block connected becomes its
// starting point; use Restore to resume after a restart.
func New(cfg Config, watch *WatchSet) *Tracker {
	limit := cfg.SafetyLimit
	if limit <= 0 {
		limit = DefaultSafetyLimit
	}
	t := &Tracker{limit: limit, watch: watch}
	t.clear()
	return t
}

func (t *Tracker) clear() {
	t.blocks = nil
	t.pays = make(map[chain.Outpoint]*Payment)
	t.txs = make(map[string]*txEntry)
	t.spentBy = make(map[chain.Outpoint]string)
	t.halted = false
}

// SafetyLimit returns the effective safety limit.
func (t *Tracker) SafetyLimit() int { return t.limit }

// Halted reports whether the tracker refused a too-deep reorg and waits for
// Restore.
func (t *Tracker) Halted() bool { return t.halted }

// Tip returns the last connected block, or false before the first Connect.
func (t *Tracker) Tip() (chain.BlockRef, bool) {
	if len(t.blocks) == 0 {
		return chain.BlockRef{}, false
	}
	return t.blocks[len(t.blocks)-1].ref, true
}

// Recent returns the remembered blocks, ascending by height and ending with
// the tip: at most SafetyLimit of them. The watcher persists them as the
// cursor and, after a restart, compares their hashes with the node's to find
// the fork point.
func (t *Tracker) Recent() []chain.BlockRef {
	refs := make([]chain.BlockRef, len(t.blocks))
	for i, b := range t.blocks {
		refs[i] = b.ref
	}
	return refs
}

// Payments returns a copy of every tracked payment, double-spent ones
// included (so that a restored tracker keeps ignoring them), sorted by
// outpoint.
func (t *Tracker) Payments() []Payment {
	out := make([]Payment, 0, len(t.pays))
	for _, p := range t.pays {
		out = append(out, p.clone())
	}
	slices.SortFunc(out, func(a, b Payment) int { return compareOutpoints(a.Outpoint, b.Outpoint) })
	return out
}

// IsWatchedSpend reports whether op is an input of a tracked payment's
// transaction, i.e. whether a transaction spending op could be a double
// spend. A source uses it to choose which non-paying transactions of a block
// it must hand over.
func (t *Tracker) IsWatchedSpend(op chain.Outpoint) bool {
	_, ok := t.spentBy[op]
	return ok
}

// Forget stops tracking the payment at op (its invoice is closed). Forgetting
// an unknown outpoint does nothing. If the transaction is seen again later
// and its key is still watched, it is reported as a new payment.
func (t *Tracker) Forget(op chain.Outpoint) {
	p, ok := t.pays[op]
	if !ok {
		return
	}
	if p.Block != nil {
		if i, ok := t.blockIndex(*p.Block); ok {
			e := &t.blocks[i]
			e.pays = slices.DeleteFunc(e.pays, func(o chain.Outpoint) bool { return o == op })
		}
	}
	t.untrack(op)
}

// untrack removes op from the payment and transaction indexes, but not from
// its block entry (callers iterating a block entry compact it themselves).
func (t *Tracker) untrack(op chain.Outpoint) {
	delete(t.pays, op)
	e := t.txs[op.TxID]
	if e == nil {
		return
	}
	e.ops = slices.DeleteFunc(e.ops, func(o chain.Outpoint) bool { return o == op })
	if len(e.ops) == 0 {
		t.releaseSpends(op.TxID, e)
		delete(t.txs, op.TxID)
	}
}

// releaseSpends drops the inputs owned by txid from the conflict index.
func (t *Tracker) releaseSpends(txid string, e *txEntry) {
	for _, s := range e.spends {
		if t.spentBy[s] == txid {
			delete(t.spentBy, s)
		}
	}
}

// claimSpends registers the inputs of a newly tracked transaction. An input
// already owned by another live transaction keeps its first owner; that only
// happens on an inconsistent chain (two mined spends of one output).
func (t *Tracker) claimSpends(txid string, spends []chain.Outpoint) {
	for _, s := range spends {
		if _, taken := t.spentBy[s]; !taken {
			t.spentBy[s] = txid
		}
	}
}

// blockIndex finds ref among the remembered blocks.
func (t *Tracker) blockIndex(ref chain.BlockRef) (int, bool) {
	if len(t.blocks) == 0 {
		return 0, false
	}
	i := ref.Height - t.blocks[0].ref.Height
	if i < 0 || i >= int64(len(t.blocks)) || t.blocks[i].ref.Hash != ref.Hash {
		return 0, false
	}
	return int(i), true
}

func compareOutpoints(a, b chain.Outpoint) int {
	return cmp.Or(cmp.Compare(a.TxID, b.TxID), cmp.Compare(a.Index, b.Index))
}

// Restore replaces the tracker's state with a snapshot taken from Recent and
// Payments (possibly of another Tracker before a restart) and clears the
// halted state. recent must be ascending with contiguous heights and
// non-empty hashes (only its last SafetyLimit entries are kept); every
// payment must be consistent with it: a confirmed payment's block among the
// kept blocks with Confirmations = tip-height+1 below SafetyLimit, an
// unconfirmed or double-spent one with no block and 0 confirmations, and the
// payments of one transaction sharing block, inputs and fate. Otherwise
// Restore returns an error wrapping ErrBadSnapshot and leaves the tracker
// unchanged.
func (t *Tracker) Restore(recent []chain.BlockRef, payments []Payment) error {
	if len(recent) > t.limit {
		recent = recent[len(recent)-t.limit:]
	}
	for i, r := range recent {
		if r.Hash == "" {
			return fmt.Errorf("%w: block at height %d has no hash", ErrBadSnapshot, r.Height)
		}
		if i > 0 && r.Height != recent[i-1].Height+1 {
			return fmt.Errorf("%w: recent blocks not contiguous at height %d", ErrBadSnapshot, r.Height)
		}
	}
	n := &Tracker{limit: t.limit, watch: t.watch}
	n.clear()
	n.blocks = make([]blockEntry, len(recent))
	for i, r := range recent {
		n.blocks[i].ref = r
	}
	for _, p := range payments {
		if err := n.restorePayment(p); err != nil {
			return err
		}
	}
	// Claim inputs in a fixed order (confirmed by height, then unconfirmed;
	// txid within) so that a restored tracker resolves conflicts exactly as
	// the one that took the snapshot.
	ids := make([]string, 0, len(n.txs))
	for id, e := range n.txs {
		slices.SortFunc(e.ops, compareOutpoints)
		if e.doubleSpentBy == "" {
			ids = append(ids, id)
		}
	}
	height := func(id string) int64 {
		if b := n.txs[id].block; b != nil {
			return b.Height
		}
		return 1<<63 - 1
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(height(a), height(b)), cmp.Compare(a, b)) })
	for _, id := range ids {
		n.claimSpends(id, n.txs[id].spends)
	}
	for i := range n.blocks {
		slices.SortFunc(n.blocks[i].pays, compareOutpoints)
	}
	*t = *n
	return nil
}

func (n *Tracker) restorePayment(p Payment) error {
	op := p.Outpoint
	if _, dup := n.pays[op]; dup {
		return fmt.Errorf("%w: payment %s:%d listed twice", ErrBadSnapshot, op.TxID, op.Index)
	}
	if p.Amount == nil || p.Amount.Sign() < 0 {
		return fmt.Errorf("%w: payment %s:%d has no valid amount", ErrBadSnapshot, op.TxID, op.Index)
	}
	var confs int64
	if p.Block != nil {
		i, ok := n.blockIndex(*p.Block)
		if !ok || p.DoubleSpentBy != "" {
			return fmt.Errorf("%w: payment %s:%d in block %d %s outside the recent blocks", ErrBadSnapshot, op.TxID, op.Index, p.Block.Height, p.Block.Hash)
		}
		confs = n.blocks[len(n.blocks)-1].ref.Height - p.Block.Height + 1
		if confs >= int64(n.limit) {
			return fmt.Errorf("%w: payment %s:%d is already final", ErrBadSnapshot, op.TxID, op.Index)
		}
		n.blocks[i].pays = append(n.blocks[i].pays, op)
	}
	if p.Confirmations != confs {
		return fmt.Errorf("%w: payment %s:%d has %d confirmations, want %d", ErrBadSnapshot, op.TxID, op.Index, p.Confirmations, confs)
	}
	c := p.clone()
	e := n.txs[op.TxID]
	if e == nil {
		e = &txEntry{spends: c.TxSpends, block: c.Block, doubleSpentBy: c.DoubleSpentBy}
		n.txs[op.TxID] = e
	} else if !slices.Equal(e.spends, c.TxSpends) || e.doubleSpentBy != c.DoubleSpentBy ||
		(e.block == nil) != (c.Block == nil) || (e.block != nil && *e.block != *c.Block) {
		return fmt.Errorf("%w: payments of transaction %s disagree", ErrBadSnapshot, op.TxID)
	}
	c.TxSpends, c.Block = e.spends, e.block
	e.ops = append(e.ops, op)
	n.pays[op] = &c
	return nil
}
