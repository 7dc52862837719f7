package tracker

import (
	"slices"

	"github.com/cryptopay/cryptopay/internal/chain"
)

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
