// Package tracker is the pure, chain-agnostic confirmation tracker: fed
// blocks in order (Connect), block removals during a reorganisation
// (Disconnect), mempool transactions (Mempool) and the node's mempool list
// (MempoolListed), it follows every output paying a watched key and returns
// what changed as Event values: payment seen, confirmations changed,
// reorged out, conflicted, double spent, reinstated, final.
//
// Only facts of the best chain are terminal. A payment's conflict state is
// derived on every step from where its transaction and its rivals are (a
// block of the best chain, or the mempool and in which order they entered
// it), so a double spend whose block leaves the best chain, or a replaced
// transaction mined after all, brings the payment back. ForkPoint tells a
// reorg from a node that is merely behind.
//
// It is not a chain client: it does no I/O, has no clock and starts no
// goroutines. The watcher that feeds it stores the returned events, the
// invoice changes and the chain cursor (Recent) in one database transaction,
// and after a restart hands Recent, Payments and Conflicts back to Restore;
// everything the tracker knows is in those three values. It does not decide when a
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

// blockEntry is one remembered block and the relevant transactions mined
// in it (those paying a watched key and the conflicts of those), sorted by
// txid so that the order survives Restore.
type blockEntry struct {
	ref chain.BlockRef
	txs []string
}

// txEntry is one transaction the tracker knows: a payer (ops lists its
// outputs to watched keys) or a conflict (no ops; it spends an input of a
// payer). Its place (block, or the mempool order seen) is a fact; the
// payments' conflict state is derived from these facts on every step.
type txEntry struct {
	ops    []chain.Outpoint // ascending output index; empty for a conflict
	spends []chain.Outpoint
	block  *chain.BlockRef // nil while unconfirmed
	seen   uint64          // last mempool entry, see Payment.Seen
}

// Tracker follows payments to watched keys through blocks, reorgs and
// double spends. Create it with New.
type Tracker struct {
	limit int
	watch *WatchSet

	blocks []blockEntry // ascending, contiguous, at most limit
	pays   map[chain.Outpoint]*Payment
	txs    map[string]*txEntry
	// spenders maps each input of a payer to every known transaction
	// spending it (payers and conflicts), sorted by txid.
	spenders map[chain.Outpoint][]string
	seq      uint64 // last mempool sequence number handed out
	halted   bool
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
	t.spenders = make(map[chain.Outpoint][]string)
	t.seq = 0
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

// Payments returns a copy of every tracked payment, double-spent and
// conflicted ones included, sorted by outpoint.
func (t *Tracker) Payments() []Payment {
	out := make([]Payment, 0, len(t.pays))
	for _, p := range t.pays {
		out = append(out, p.clone())
	}
	slices.SortFunc(out, func(a, b Payment) int { return compareOutpoints(a.Outpoint, b.Outpoint) })
	return out
}

// Conflicts returns a copy of every known conflict (a transaction paying
// no watched key that spends an input of a tracked payment), sorted by
// txid. The watcher persists them with Payments.
func (t *Tracker) Conflicts() []Conflict {
	var out []Conflict
	for id, e := range t.txs {
		if len(e.ops) == 0 {
			out = append(out, Conflict{TxID: id, Spends: e.spends, Block: e.block, Seen: e.seen}.clone())
		}
	}
	slices.SortFunc(out, func(a, b Conflict) int { return cmp.Compare(a.TxID, b.TxID) })
	return out
}

// IsWatchedSpend reports whether op is an input of a tracked payment's
// transaction, i.e. whether a transaction spending op could be a double
// spend. A source uses it to choose which non-paying transactions of a block
// it must hand over.
func (t *Tracker) IsWatchedSpend(op chain.Outpoint) bool {
	_, ok := t.spenders[op]
	return ok
}

// Forget stops tracking the payment at op (its invoice is closed). Forgetting
// an unknown outpoint does nothing. If the transaction is seen again later
// and its key is still watched, it is reported as a new payment.
func (t *Tracker) Forget(op chain.Outpoint) {
	if _, ok := t.pays[op]; ok {
		t.untrack(op)
	}
}

// untrack removes one payment. A transaction left without payments stays
// known as a conflict while it shares an input with another payer (its
// place still decides that payer's fate); otherwise it is dropped, and with
// it the conflicts that concerned only it.
func (t *Tracker) untrack(op chain.Outpoint) {
	delete(t.pays, op)
	e := t.txs[op.TxID]
	if e == nil {
		return
	}
	e.ops = slices.DeleteFunc(e.ops, func(o chain.Outpoint) bool { return o == op })
	if len(e.ops) == 0 {
		t.release(op.TxID)
	}
}

// release gives up the claim of a transaction without payments on its
// inputs: an input no payer spends any more is no longer watched, and a
// conflict spending no watched input is forgotten.
func (t *Tracker) release(id string) {
	e := t.txs[id]
	var orphans []string
	for _, s := range e.spends {
		list, ok := t.spenders[s]
		if !ok || slices.ContainsFunc(list, func(x string) bool { return len(t.txs[x].ops) > 0 }) {
			continue
		}
		delete(t.spenders, s)
		orphans = append(orphans, list...)
	}
	if !slices.Contains(orphans, id) {
		orphans = append(orphans, id)
	}
	for _, c := range orphans {
		ce, ok := t.txs[c]
		if !ok || len(ce.ops) > 0 || t.spendsPayerInput(ce) {
			continue
		}
		for _, s := range ce.spends {
			if list, ok := t.spenders[s]; ok {
				t.spenders[s] = slices.DeleteFunc(list, func(x string) bool { return x == c })
			}
		}
		delete(t.txs, c)
		if ce.block != nil {
			if i, ok := t.blockIndex(*ce.block); ok {
				b := &t.blocks[i]
				b.txs = slices.DeleteFunc(b.txs, func(x string) bool { return x == c })
			}
		}
	}
}

func (t *Tracker) spendsPayerInput(e *txEntry) bool {
	return slices.ContainsFunc(e.spends, func(s chain.Outpoint) bool { _, ok := t.spenders[s]; return ok })
}

// addSpender records id as a spender of every input of a payer it spends;
// a payer (claim) also makes its own inputs watched.
func (t *Tracker) addSpender(id string, spends []chain.Outpoint, claim bool) {
	for _, s := range spends {
		list, ok := t.spenders[s]
		if !ok && !claim {
			continue
		}
		if i, found := slices.BinarySearch(list, id); !found {
			t.spenders[s] = slices.Insert(list, i, id)
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

// Restore replaces the tracker's state with a snapshot taken from Recent,
// Payments and Conflicts (possibly of another Tracker before a restart) and
// clears the halted state. recent must be ascending with contiguous heights
// and non-empty hashes (only its last SafetyLimit entries are kept); every
// payment and conflict must be consistent with it: a mined one's block
// among the kept blocks, a payment's Confirmations = tip-height+1 below
// SafetyLimit (0 when unconfirmed), the payments of one transaction sharing
// block, inputs and Seen, and each payment's DoubleSpentBy and ConflictedBy
// what the snapshot's facts imply. Otherwise Restore returns an error
// wrapping ErrBadSnapshot and leaves the tracker unchanged.
func (t *Tracker) Restore(recent []chain.BlockRef, payments []Payment, conflicts []Conflict) error {
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
	for id, e := range n.txs {
		slices.SortFunc(e.ops, compareOutpoints)
		n.addSpender(id, e.spends, true)
	}
	for _, c := range conflicts {
		if _, dup := n.txs[c.TxID]; dup || c.TxID == "" {
			return fmt.Errorf("%w: conflict %q listed twice or also a payer", ErrBadSnapshot, c.TxID)
		}
		c = c.clone()
		if err := n.restorePlace(c.TxID, c.Block); err != nil {
			return err
		}
		e := &txEntry{spends: c.Spends, block: c.Block, seen: c.Seen}
		if !n.spendsPayerInput(e) {
			return fmt.Errorf("%w: conflict %s spends no tracked input", ErrBadSnapshot, c.TxID)
		}
		n.txs[c.TxID] = e
		n.addSpender(c.TxID, c.Spends, false)
	}
	for _, e := range n.txs {
		n.seq = max(n.seq, e.seen)
	}
	for i := range n.blocks {
		slices.Sort(n.blocks[i].txs)
	}
	// The conflict state is derived: it must be what the facts imply.
	for op, p := range n.pays {
		got := *p
		n.derive(op.TxID)
		if got.DoubleSpentBy != p.DoubleSpentBy || got.ConflictedBy != p.ConflictedBy || got.Dropped != p.Dropped {
			return fmt.Errorf("%w: payment %s:%d conflict state disagrees with its transactions", ErrBadSnapshot, op.TxID, op.Index)
		}
	}
	*t = *n
	return nil
}

// restorePlace checks that a mined transaction's block is kept and lists
// the transaction in it.
func (n *Tracker) restorePlace(id string, b *chain.BlockRef) error {
	if b == nil {
		return nil
	}
	i, ok := n.blockIndex(*b)
	if !ok {
		return fmt.Errorf("%w: transaction %s in block %d %s outside the recent blocks", ErrBadSnapshot, id, b.Height, b.Hash)
	}
	n.blocks[i].txs = append(n.blocks[i].txs, id)
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
		if _, ok := n.blockIndex(*p.Block); !ok {
			return fmt.Errorf("%w: payment %s:%d in block %d %s outside the recent blocks", ErrBadSnapshot, op.TxID, op.Index, p.Block.Height, p.Block.Hash)
		}
		confs = n.blocks[len(n.blocks)-1].ref.Height - p.Block.Height + 1
		if confs >= int64(n.limit) {
			return fmt.Errorf("%w: payment %s:%d is already final", ErrBadSnapshot, op.TxID, op.Index)
		}
	}
	if p.Confirmations != confs {
		return fmt.Errorf("%w: payment %s:%d has %d confirmations, want %d", ErrBadSnapshot, op.TxID, op.Index, p.Confirmations, confs)
	}
	c := p.clone()
	e := n.txs[op.TxID]
	if e == nil {
		e = &txEntry{spends: c.TxSpends, block: c.Block, seen: c.Seen}
		if err := n.restorePlace(op.TxID, c.Block); err != nil {
			return err
		}
		n.txs[op.TxID] = e
	} else if !slices.Equal(e.spends, c.TxSpends) || e.seen != c.Seen ||
		(e.block == nil) != (c.Block == nil) || (e.block != nil && *e.block != *c.Block) {
		return fmt.Errorf("%w: payments of transaction %s disagree", ErrBadSnapshot, op.TxID)
	}
	c.TxSpends, c.Block = e.spends, e.block
	e.ops = append(e.ops, op)
	n.pays[op] = &c
	return nil
}
