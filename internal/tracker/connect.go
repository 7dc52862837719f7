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

// state is what a step may change about a payment.
type state struct {
	block           chain.BlockRef
	mined           bool
	confs           int64
	doubleSpentBy   string
	conflictedBy    string
	dropped         bool
	known           bool
	previouslyFinal bool
}

func stateOf(p *Payment) state {
	if p == nil {
		return state{}
	}
	s := state{confs: p.Confirmations, doubleSpentBy: p.DoubleSpentBy, conflictedBy: p.ConflictedBy, dropped: p.Dropped, known: true}
	if p.Block != nil {
		s.block, s.mined = *p.Block, true
	}
	return s
}

// step records the payments' states before a call and turns the
// differences after it into events, one per changed payment, in the order
// payments were first touched.
type diffStep struct {
	t       *Tracker
	before  map[chain.Outpoint]state
	order   []chain.Outpoint
	emitted map[chain.Outpoint]bool
}

func (t *Tracker) newStep() *diffStep {
	return &diffStep{t: t, before: map[chain.Outpoint]state{}, emitted: map[chain.Outpoint]bool{}}
}

// touch remembers the state before the change of every payment of the
// given transactions.
func (s *diffStep) touch(ids ...string) {
	for _, id := range ids {
		e := s.t.txs[id]
		if e == nil {
			continue
		}
		for _, op := range e.ops {
			if _, ok := s.before[op]; !ok {
				s.before[op] = stateOf(s.t.pays[op])
				s.order = append(s.order, op)
			}
		}
	}
}

// markNew records the payments of id not seen before the step as new.
func (s *diffStep) markNew(id string) {
	for _, op := range s.t.txs[id].ops {
		if _, ok := s.before[op]; !ok {
			s.before[op] = state{}
			s.order = append(s.order, op)
		}
	}
}

// emit appends the event for op if its state changed.
func (s *diffStep) emit(op chain.Outpoint, events []Event) []Event {
	if s.emitted[op] {
		return events
	}
	p := s.t.pays[op]
	if p == nil {
		return events
	}
	b, touched := s.before[op]
	if !touched {
		return events // untouched by the step, so unchanged
	}
	a := stateOf(p)
	var kind Kind
	switch {
	case !b.known:
		kind = PaymentSeen
	case b.mined && !a.mined:
		kind = ReorgedOut
	case a.doubleSpentBy != "" && a.doubleSpentBy != b.doubleSpentBy:
		kind = DoubleSpent
	case a.conflictedBy != "" && a.conflictedBy != b.conflictedBy, a.dropped && !b.dropped:
		kind = Conflicted
	case (b.doubleSpentBy != "" || b.conflictedBy != "" || b.dropped) && a.doubleSpentBy == "" && a.conflictedBy == "" && !a.dropped:
		kind = Reinstated
	case a.confs != b.confs || a.block != b.block:
		kind = ConfirmationsChanged
	default:
		return events
	}
	s.emitted[op] = true
	ev := Event{Kind: kind, Payment: p.clone(), PreviousConfirmations: b.confs}
	switch kind {
	case DoubleSpent:
		ev.ConflictTxID = p.DoubleSpentBy
	case Conflicted:
		ev.ConflictTxID = p.ConflictedBy
	}
	return append(events, ev)
}

// emitTx emits the events of every touched payment of the transactions.
func (s *diffStep) emitTx(events []Event, ids ...string) []Event {
	for _, id := range ids {
		if e := s.t.txs[id]; e != nil {
			for _, op := range e.ops {
				events = s.emit(op, events)
			}
		}
	}
	return events
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
		t.pays[op] = &Payment{Outpoint: op, Key: out.Key, Amount: amount, TxSpends: e.spends, RBF: tx.RBF, From: tx.From}
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

	// Confirmations: every payer in a kept block, the new one included.
	for i := range t.blocks {
		for _, id := range t.blocks[i].txs {
			st.touch(id)
		}
	}
	for i := range t.blocks {
		confs := ref.Height - t.blocks[i].ref.Height + 1
		for _, id := range t.blocks[i].txs {
			for _, op := range t.txs[id].ops {
				t.pays[op].Confirmations = confs
			}
			t.derive(id)
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
	for i := range t.blocks {
		for _, id := range t.blocks[i].txs {
			if !final[id] {
				events = st.emitTx(events, id)
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
				prev := st.before[op].confs
				if !st.before[op].known {
					prev = p.Confirmations
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

// Mempool applies a transaction the node holds in its mempool: it entered
// the mempool after everything seen before, so any unconfirmed transaction
// spending one of its inputs was dropped. It returns Conflicted for every
// payment of those (in txid order), Reinstated for payments of tx itself
// that a conflict had taken away, then PaymentSeen with 0 confirmations for
// each new output to a watched key. A transaction conflicting with a mined
// one cannot be valid on the best chain (a stale observation) and is
// ignored, as is a transaction already mined. After a too-deep reorg it
// returns ErrHalted.
func (t *Tracker) Mempool(tx chain.Tx) ([]Event, error) {
	if t.halted {
		return nil, ErrHalted
	}
	if e := t.txs[tx.ID]; e != nil && e.block != nil {
		return nil, nil
	}
	t.watch.rlock()
	defer t.watch.runlock()
	if !t.relevant(&tx) {
		return nil, nil
	}
	for _, s := range tx.Spends {
		for _, r := range t.spenders[s] {
			if r != tx.ID && t.txs[r].block != nil {
				return nil, nil // stale: a mined transaction spends the same input
			}
		}
	}
	st := t.newStep()
	g := t.group(tx.ID, tx.Spends)
	st.touch(g...)
	e := t.note(&tx)
	st.markNew(tx.ID)
	t.seq++
	e.seen = t.seq
	g = t.group(tx.ID, e.spends)
	for _, id := range g {
		if t.txs[id] != nil && len(t.txs[id].ops) > 0 {
			t.derive(id)
		}
	}
	rivals := g[1:]
	slices.Sort(rivals)
	events := st.emitTx(nil, rivals...)
	return st.emitTx(events, tx.ID), nil
}

// MempoolListed tells the tracker which transactions the node's mempool
// holds now (all of them: the list the node returned). An unconfirmed
// transaction the tracker knows that is not listed is no longer in the
// mempool: its payments are Dropped (Conflicted events with no conflict)
// and a conflict not listed no longer stands in anyone's way. Call it only
// when no block arrived since the tracker last caught up with the node, or
// a transaction just mined would look dropped until its block is connected.
func (t *Tracker) MempoolListed(ids []string) ([]Event, error) {
	if t.halted {
		return nil, ErrHalted
	}
	listed := make(map[string]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	var gone []string
	for id, e := range t.txs {
		if e.block == nil && e.seen != 0 && !listed[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	slices.Sort(gone)
	st := t.newStep()
	var affected []string
	for _, id := range gone {
		g := t.group(id, t.txs[id].spends)
		st.touch(g...)
		affected = append(affected, g...)
	}
	for _, id := range gone {
		t.txs[id].seen = 0
	}
	slices.Sort(affected)
	affected = slices.Compact(affected)
	for _, id := range affected {
		t.derive(id)
	}
	return st.emitTx(nil, affected...), nil
}
