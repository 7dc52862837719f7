package tracker

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// Connect applies the next block of the best chain and returns, in order:
// for each transaction in block order, the double spends it causes and then
// its outputs to watched keys by output index (PaymentSeen for a new payment,
// ConfirmationsChanged 0→1 for a mempool payment now mined); then the
// confirmation changes of the payments in older blocks, by height and
// outpoint. A payment reaching SafetyLimit confirmations gets Final instead
// of ConfirmationsChanged and is dropped.
//
// b must be the child of the tip (Height tip+1, Prev the tip's hash); any
// block is accepted as the starting point of an empty tracker. Otherwise it
// returns ErrOutOfOrder (ErrBadBlock for a block without a hash, ErrHalted
// after a too-deep reorg) and changes nothing.
//
// Transactions of a double-spent payment mined anyway are ignored: the
// payment stays double spent (terminal). On a consistent chain this happens
// only when a replaced transaction is mined instead of its replacement; the
// replacement, if it paid us, is then reported double spent too.
func (t *Tracker) Connect(b chain.Block) ([]Event, error) {
	if t.halted {
		return nil, ErrHalted
	}
	if b.Hash == "" {
		return nil, fmt.Errorf("%w: height %d", ErrBadBlock, b.Height)
	}
	if tip, ok := t.Tip(); ok && (b.Height != tip.Height+1 || b.Prev != tip.Hash) {
		return nil, fmt.Errorf("%w: block %d %s (parent %s) does not extend tip %d %s",
			ErrOutOfOrder, b.Height, b.Hash, b.Prev, tip.Height, tip.Hash)
	}
	ref := b.Ref()
	var events []Event
	entry := blockEntry{ref: ref}

	t.watch.rlock()
	for i := range b.Txs {
		tx := &b.Txs[i]
		if victims, _ := t.conflicts(tx, true); len(victims) > 0 {
			events = t.markDoubleSpent(victims, tx.ID, events)
		}
		events = t.mined(tx, &ref, &entry, events)
	}
	t.watch.runlock()

	// Older blocks first gain a confirmation; tip-height+1 with the new tip.
	for i := range t.blocks {
		e := &t.blocks[i]
		confs := ref.Height - e.ref.Height + 1
		kept := e.pays[:0]
		for _, op := range e.pays {
			p := t.pays[op]
			prev := p.Confirmations
			p.Confirmations = confs
			if confs >= int64(t.limit) {
				events = append(events, Event{Kind: Final, Payment: p.clone(), PreviousConfirmations: prev})
				t.untrack(op)
				continue
			}
			events = append(events, Event{Kind: ConfirmationsChanged, Payment: p.clone(), PreviousConfirmations: prev})
			kept = append(kept, op)
		}
		clear(e.pays[len(kept):])
		e.pays = kept
	}

	slices.SortFunc(entry.pays, compareOutpoints)
	t.blocks = append(t.blocks, entry)
	if len(t.blocks) > t.limit {
		// Its payments reached SafetyLimit confirmations above and are gone.
		t.blocks[0] = blockEntry{}
		t.blocks = t.blocks[1:]
	}
	return events, nil
}

// mined handles the outputs of a transaction in the block being connected.
func (t *Tracker) mined(tx *chain.Tx, ref *chain.BlockRef, entry *blockEntry, events []Event) []Event {
	e := t.txs[tx.ID]
	if e != nil && (e.doubleSpentBy != "" || e.block != nil) {
		// Double spent (terminal), or mined twice (an inconsistent source).
		return events
	}
	final := t.limit <= 1
	for _, out := range tx.Outputs {
		op := chain.Outpoint{TxID: tx.ID, Index: out.Index}
		kind := ConfirmationsChanged
		p := t.pays[op]
		if p == nil {
			// A tracked mempool payment is confirmed even if its key has
			// left the watch set since; a new one needs a watched key.
			if !t.watch.hasLocked(out.Key) {
				continue
			}
			e = t.track(tx, out, e)
			p, kind = t.pays[op], PaymentSeen
		} else if p.Block != nil {
			continue // the same output listed twice by a faulty source
		}
		prev := p.Confirmations
		p.Block, p.Confirmations = ref, 1
		switch {
		case final && kind == PaymentSeen:
			// Seen first, so that the watcher knows the payment Final ends.
			events = append(events, Event{Kind: PaymentSeen, Payment: p.clone()})
			prev = 1
			fallthrough
		case final:
			kind = Final
		default:
			entry.pays = append(entry.pays, op)
		}
		events = append(events, Event{Kind: kind, Payment: p.clone(), PreviousConfirmations: prev})
	}
	if e == nil {
		return events
	}
	// A source lists every output to a key, so this finds nothing unless a
	// tracked output was left out; it still belongs to the mined block.
	for _, op := range e.ops {
		if p := t.pays[op]; p.Block == nil {
			p.Block, p.Confirmations = ref, 1
			kind := ConfirmationsChanged
			if final {
				kind = Final
			} else {
				entry.pays = append(entry.pays, op)
			}
			events = append(events, Event{Kind: kind, Payment: p.clone()})
		}
	}
	e.block = ref
	if final {
		for _, op := range slices.Clone(e.ops) {
			t.untrack(op)
		}
	}
	return events
}

// track starts tracking one output of tx, creating the transaction's entry
// (and claiming its inputs) on first use. It returns the entry.
func (t *Tracker) track(tx *chain.Tx, out chain.Output, e *txEntry) *txEntry {
	if e == nil {
		e = &txEntry{spends: slices.Clone(tx.Spends)}
		t.txs[tx.ID] = e
		t.claimSpends(tx.ID, e.spends)
	}
	op := chain.Outpoint{TxID: tx.ID, Index: out.Index}
	amount := new(big.Int)
	if out.Amount != nil {
		amount.Set(out.Amount)
	}
	t.pays[op] = &Payment{
		Outpoint: op,
		Key:      out.Key,
		Amount:   amount,
		TxSpends: e.spends,
		RBF:      tx.RBF,
		From:     tx.From,
		Block:    e.block,
	}
	i, _ := slices.BinarySearchFunc(e.ops, op, compareOutpoints)
	e.ops = slices.Insert(e.ops, i, op)
	return e
}

// conflicts returns the live tracked transactions that tx double spends
// (inputs in common, another txid), in the order of tx's inputs. For a
// mempool transaction, conflicting with a confirmed tracked transaction
// makes tx itself invalid against the best chain: ignore is then true and
// victims nil. A mined transaction conflicting with a confirmed one only
// happens on an inconsistent chain and is not reported.
func (t *Tracker) conflicts(tx *chain.Tx, mined bool) (victims []string, ignore bool) {
	if len(t.spentBy) == 0 {
		return nil, false
	}
	for _, s := range tx.Spends {
		owner, ok := t.spentBy[s]
		if !ok || owner == tx.ID || slices.Contains(victims, owner) {
			continue
		}
		if t.txs[owner].block != nil {
			if mined {
				continue
			}
			return nil, true
		}
		victims = append(victims, owner)
	}
	return victims, false
}

// markDoubleSpent makes every payment of the victim transactions double
// spent by conflict, emitting DoubleSpent for each (by output index).
func (t *Tracker) markDoubleSpent(victims []string, conflict string, events []Event) []Event {
	for _, id := range victims {
		e := t.txs[id]
		e.doubleSpentBy = conflict
		t.releaseSpends(id, e)
		for _, op := range e.ops {
			p := t.pays[op]
			p.DoubleSpentBy = conflict
			events = append(events, Event{Kind: DoubleSpent, Payment: p.clone(),
				PreviousConfirmations: p.Confirmations, ConflictTxID: conflict})
		}
	}
	return events
}

// Disconnect removes the tip block during a reorg and returns ReorgedOut for
// each payment in it (back to 0 confirmations, still tracked), then
// ConfirmationsChanged for the payments in older blocks, by height and
// outpoint. Double-spent payments stay double spent.
//
// ref must be the tip, else ErrOutOfOrder (nothing changes). Removing the
// only block left means the reorg is deeper than the tracker can follow: it
// returns ErrReorgTooDeep, keeps its state for inspection and halts, so that
// Connect, Disconnect and Mempool return ErrHalted until Restore.
func (t *Tracker) Disconnect(ref chain.BlockRef) ([]Event, error) {
	if t.halted {
		return nil, ErrHalted
	}
	tip, ok := t.Tip()
	if !ok || ref != tip {
		return nil, fmt.Errorf("%w: cannot disconnect %d %s: tip is %d %s", ErrOutOfOrder, ref.Height, ref.Hash, tip.Height, tip.Hash)
	}
	if len(t.blocks) == 1 {
		t.halted = true
		return nil, fmt.Errorf("%w: cannot disconnect %d %s, the oldest block kept", ErrReorgTooDeep, ref.Height, ref.Hash)
	}
	top := t.blocks[len(t.blocks)-1]
	t.blocks[len(t.blocks)-1] = blockEntry{}
	t.blocks = t.blocks[:len(t.blocks)-1]

	var events []Event
	for _, op := range top.pays {
		p := t.pays[op]
		prev := p.Confirmations
		p.Block, p.Confirmations = nil, 0
		t.txs[op.TxID].block = nil
		events = append(events, Event{Kind: ReorgedOut, Payment: p.clone(), PreviousConfirmations: prev})
	}
	newTip := t.blocks[len(t.blocks)-1].ref.Height
	for _, e := range t.blocks {
		for _, op := range e.pays {
			p := t.pays[op]
			prev := p.Confirmations
			p.Confirmations = newTip - e.ref.Height + 1
			events = append(events, Event{Kind: ConfirmationsChanged, Payment: p.clone(), PreviousConfirmations: prev})
		}
	}
	return events, nil
}

// Mempool applies a transaction seen in the mempool and returns DoubleSpent
// for every payment of each unconfirmed tracked transaction it replaces or
// conflicts with (in input order, then output index), then PaymentSeen
// with 0 confirmations for each new output to a watched key. A transaction
// seen again returns nothing new. A transaction conflicting with a confirmed
// tracked payment cannot be valid on the best chain (it is a stale
// observation) and is ignored. After a too-deep reorg it returns ErrHalted.
func (t *Tracker) Mempool(tx chain.Tx) ([]Event, error) {
	if t.halted {
		return nil, ErrHalted
	}
	e := t.txs[tx.ID]
	if e != nil && (e.doubleSpentBy != "" || e.block != nil) {
		return nil, nil
	}
	victims, ignore := t.conflicts(&tx, false)
	if ignore {
		return nil, nil
	}
	var events []Event
	if len(victims) > 0 {
		events = t.markDoubleSpent(victims, tx.ID, events)
	}
	t.watch.rlock()
	defer t.watch.runlock()
	for _, out := range tx.Outputs {
		op := chain.Outpoint{TxID: tx.ID, Index: out.Index}
		if _, known := t.pays[op]; known || !t.watch.hasLocked(out.Key) {
			continue
		}
		e = t.track(&tx, out, e)
		events = append(events, Event{Kind: PaymentSeen, Payment: t.pays[op].clone()})
	}
	return events, nil
}
