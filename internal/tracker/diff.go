package tracker

import "github.com/cryptopay/cryptopay/internal/chain"

// Events are differences: a step records the state of every payment it
// may change before changing anything, and afterwards reports one event
// per payment whose state differs, so a payment whose conflict came and
// went within one call reports nothing.

// state is what a step may change about a payment.
type state struct {
	block         chain.BlockRef
	mined         bool
	confs         int64
	doubleSpentBy string
	conflictedBy  string
	dropped       bool
	known         bool
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
