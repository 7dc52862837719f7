package tracker

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// Conflicts are facts of the best chain. For every payer the tracker keeps
// where it is and where each transaction spending one of its inputs is (a
// block of the best chain, or the mempool with the order it entered), and
// derives the payment's state from those facts after every step:
//   - its own transaction in a block: confirmed, whatever its rivals did;
//   - else a rival in a block: double spent by it, for as long as that
//     block stays in the best chain;
//   - else a rival that entered the mempool after it: conflicted (the node
//     dropped the payment's transaction); a hint, never terminal;
//   - else pending.
// Nothing is terminal but Final: a reorg or a transaction seen again brings
// a payment back.

// derive recomputes the conflict state of payer id's payments.
func (t *Tracker) derive(id string) {
	e := t.txs[id]
	by, mined := t.rival(id, e)
	for _, op := range e.ops {
		p := t.pays[op]
		p.Block, p.Seen = e.block, e.seen
		p.DoubleSpentBy, p.ConflictedBy, p.Dropped = "", "", false
		switch {
		case by == "" && e.block == nil && e.seen == 0:
			p.Dropped = true
		case by == "":
		case mined:
			p.DoubleSpentBy = by
		default:
			p.ConflictedBy = by
		}
		if e.block == nil {
			p.Confirmations = 0
		}
	}
}

// rival returns the transaction that takes e's place: one in a block, else
// the one that entered the mempool last if after e. Inputs are visited in
// order and spenders by txid, so the answer survives Restore.
func (t *Tracker) rival(id string, e *txEntry) (string, bool) {
	if e.block != nil {
		return "", false
	}
	best, bestSeen := "", e.seen
	for _, s := range e.spends {
		for _, r := range t.spenders[s] {
			if r == id {
				continue
			}
			re := t.txs[r]
			if re.block != nil {
				return r, true
			}
			if re.seen > bestSeen {
				best, bestSeen = r, re.seen
			}
		}
	}
	return best, false
}

// group returns id and every known transaction sharing an input with it.
func (t *Tracker) group(id string, spends []chain.Outpoint) []string {
	out := []string{id}
	for _, s := range spends {
		for _, r := range t.spenders[s] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// track starts tracking the watched outputs of tx not yet tracked,
// creating the transaction's entry on first use. It reports whether it
// tracked anything.
func (t *Tracker) track(tx *chain.Tx) bool {
	e := t.txs[tx.ID]
	added := false
	for _, out := range tx.Outputs {
		op := chain.Outpoint{TxID: tx.ID, Index: out.Index}
		if _, ok := t.pays[op]; ok || !t.watch.hasLocked(out.Key) {
			continue
		}
		if e == nil {
			e = &txEntry{spends: slices.Clone(tx.Spends)}
			t.txs[tx.ID] = e
		}
		if len(e.ops) == 0 {
			t.addSpender(tx.ID, e.spends, true) // a conflict becoming a payer claims its inputs
		}
		amount := new(big.Int)
		if out.Amount != nil {
			amount.Set(out.Amount)
		}
		t.pays[op] = &Payment{Outpoint: op, Key: out.Key, Amount: amount, Asset: out.Asset, TxSpends: e.spends, RBF: tx.RBF, From: tx.From}
		i, _ := slices.BinarySearchFunc(e.ops, op, compareOutpoints)
		e.ops = slices.Insert(e.ops, i, op)
		added = true
	}
	return added
}

// relevant reports whether tx concerns the tracker: known, paying a
// watched key, or spending an input of a payer.
func (t *Tracker) relevant(tx *chain.Tx) bool {
	if _, ok := t.txs[tx.ID]; ok {
		return true
	}
	if slices.ContainsFunc(tx.Outputs, func(o chain.Output) bool { return t.watch.hasLocked(o.Key) }) {
		return true
	}
	return slices.ContainsFunc(tx.Spends, func(s chain.Outpoint) bool { _, ok := t.spenders[s]; return ok })
}

// note makes sure tx has an entry (as a payer if it pays a watched key,
// else as a conflict) and returns it.
func (t *Tracker) note(tx *chain.Tx) *txEntry {
	t.track(tx)
	e := t.txs[tx.ID]
	if e == nil {
		e = &txEntry{spends: slices.Clone(tx.Spends)}
		t.txs[tx.ID] = e
		t.addSpender(tx.ID, e.spends, false)
	}
	return e
}

// Connect applies the next block of the best chain and returns, in order:
// for each relevant transaction in block order, the changes it causes to
// its rivals' payments (DoubleSpent, Reinstated for a payment whose
// transaction this is) and to its own outputs (PaymentSeen for a new
// payment, Reinstated or ConfirmationsChanged 0→1 for a known one); then
// the confirmation changes of the payments in older blocks, by height and
// outpoint. A payment reaching SafetyLimit confirmations gets Final instead
// of ConfirmationsChanged and is dropped, and so are the payments its
// transaction double spent.
//
// b must be the child of the tip (Height tip+1, Prev the tip's hash); any
// block is accepted as the starting point of an empty tracker. Otherwise it
// returns ErrOutOfOrder (ErrBadBlock for a block without a hash, ErrHalted
// after a too-deep reorg) and changes nothing.
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
	entry := blockEntry{ref: ref}
	st := t.newStep()
	var mined []string // relevant transactions of the block, in block order

	t.watch.rlock()
	for i := range b.Txs {
		tx := &b.Txs[i]
		if !t.relevant(tx) {
			continue
		}
		if e := t.txs[tx.ID]; e != nil && e.block != nil {
			continue // listed twice by a faulty source
		}
		st.touch(t.group(tx.ID, tx.Spends)...)
		e := t.note(tx)
		st.markNew(tx.ID)
		e.block = &ref
		entry.txs = append(entry.txs, tx.ID)
		mined = append(mined, tx.ID)
	}
	t.watch.runlock()
	slices.Sort(entry.txs)
	t.blocks = append(t.blocks, entry)

	// The new block's transactions and their rivals may change state; a
	// transaction mined in an older block only gains a confirmation (its
	// rivals cannot be mined beside it), so it skips the diff.
	newest := len(t.blocks) - 1
	for _, id := range entry.txs {
		st.touch(id)
		for _, op := range t.txs[id].ops {
			t.pays[op].Confirmations = 1
		}
	}
	for _, id := range mined {
		for _, r := range t.group(id, t.txs[id].spends) {
			t.derive(r)
		}
	}

	var events []Event
	final := t.finalBlocks()
	for _, id := range mined {
		e := t.txs[id]
		rivals := t.group(id, e.spends)[1:]
		slices.Sort(rivals)
		events = st.emitTx(events, rivals...)
		if final[id] {
			continue
		}
		events = st.emitTx(events, id)
	}
	for i := range t.blocks[:newest] {
		confs := ref.Height - t.blocks[i].ref.Height + 1
		for _, id := range t.blocks[i].txs {
			for _, op := range t.txs[id].ops {
				p := t.pays[op]
				p.Confirmations = confs
				if !final[id] {
					events = append(events, Event{Kind: ConfirmationsChanged, Payment: p.clone(), PreviousConfirmations: confs - 1})
				}
			}
		}
	}
	events = t.finalize(st, final, events)
	if len(t.blocks) > t.limit {
		t.blocks[0] = blockEntry{}
		t.blocks = t.blocks[1:]
	}
	return events, nil
}

// finalBlocks returns the transactions in blocks with SafetyLimit
// confirmations or more.
func (t *Tracker) finalBlocks() map[string]bool {
	out := map[string]bool{}
	tip := t.blocks[len(t.blocks)-1].ref.Height
	for _, b := range t.blocks {
		if tip-b.ref.Height+1 >= int64(t.limit) {
			for _, id := range b.txs {
				out[id] = true
			}
		}
	}
	return out
}

// finalize drops the transactions of final blocks with Final events: the
// payments they double spent (for good now), then their own payments.
func (t *Tracker) finalize(st *diffStep, final map[string]bool, events []Event) []Event {
	ids := make([]string, 0, len(final))
	for id := range final {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := t.txs[id]
		if e == nil {
			continue
		}
		victims := t.group(id, e.spends)[1:]
		slices.Sort(victims)
		for _, v := range append(victims, id) {
			ve := t.txs[v]
			if ve == nil || (v != id && ve.block != nil) {
				continue
			}
			if v != id && len(ve.ops) > 0 {
				events = st.emitTx(events, v) // the double spend, if new
			}
			if v == id && !st.emitted[firstOp(ve)] {
				for _, op := range ve.ops {
					if !st.before[op].known {
						events = st.emit(op, events) // seen first, so Final ends something known
					}
				}
			}
			for _, op := range slices.Clone(ve.ops) {
				p := t.pays[op]
				prev := p.Confirmations
				if p.Block != nil {
					prev-- // mined in an older block: one more confirmation
				}
				if b, touched := st.before[op]; touched {
					prev = b.confs
					if !b.known {
						prev = p.Confirmations
					}
				}
				events = append(events, Event{Kind: Final, Payment: p.clone(), PreviousConfirmations: prev})
				t.untrack(op)
			}
			if t.txs[v] != nil && len(t.txs[v].ops) == 0 {
				t.release(v)
			}
		}
	}
	return events
}

func firstOp(e *txEntry) chain.Outpoint {
	if len(e.ops) == 0 {
		return chain.Outpoint{}
	}
	return e.ops[0]
}

// Disconnect removes the tip block during a reorg. Its transactions go back
// to the mempool, as a node puts them, after everything seen before: each
// of its payments gets ReorgedOut (0 confirmations, still tracked), and a
// payment its transactions double spent becomes Conflicted (a hint) until
// its own transaction is mined or seen again. Then come ConfirmationsChanged
// for the payments in older blocks, by height and outpoint.
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

	st := t.newStep()
	var groups []string
	for _, id := range top.txs {
		g := t.group(id, t.txs[id].spends)
		st.touch(g...)
		groups = append(groups, g...)
	}
	for _, id := range top.txs {
		e := t.txs[id]
		e.block = nil
		t.seq++
		e.seen = t.seq
	}
	for _, b := range t.blocks {
		st.touch(b.txs...)
	}
	newTip := t.blocks[len(t.blocks)-1].ref.Height
	for _, b := range t.blocks {
		for _, id := range b.txs {
			for _, op := range t.txs[id].ops {
				t.pays[op].Confirmations = newTip - b.ref.Height + 1
			}
		}
	}
	for _, id := range groups {
		t.derive(id)
	}
	var events []Event
	events = st.emitTx(events, top.txs...)
	rest := slices.Clone(groups)
	slices.Sort(rest)
	events = st.emitTx(events, rest...)
	for _, b := range t.blocks {
		events = st.emitTx(events, b.txs...)
	}
	return events, nil
}
