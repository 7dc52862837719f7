package tracker

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"testing"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// The model: a plain list of blocks (the best chain the tracker was fed),
// the transactions ever generated, and the expected payments, recomputed by
// scanning the chain rather than through the tracker's indexes.
type model struct {
	limit  int
	chain  []chain.Block
	depth  int // blocks the tracker remembers
	pays   map[chain.Outpoint]*Payment
	txs    []chain.Tx
	halted bool
	nextID int
}

var (
	modelWatched = []chain.Key{key(1), key(2)}
	modelKeys    = []chain.Key{key(1), key(2), key(9)} // key 9 is never watched
	modelFunds   = []string{"f0", "f1", "f2", "f3", "f4"}
)

func (m *model) tip() int64 { return m.chain[len(m.chain)-1].Height }

// spentOnChain reports whether a block of the chain spends op.
func (m *model) spentOnChain(op chain.Outpoint, extra []chain.Tx) bool {
	for _, b := range m.chain {
		for _, tx := range b.Txs {
			if slices.Contains(tx.Spends, op) {
				return true
			}
		}
	}
	for _, tx := range extra {
		if slices.Contains(tx.Spends, op) {
			return true
		}
	}
	return false
}

// minedAt returns the block holding txid on the chain.
func (m *model) minedAt(txid string) (chain.BlockRef, bool) {
	for _, b := range m.chain {
		for _, tx := range b.Txs {
			if tx.ID == txid {
				return b.Ref(), true
			}
		}
	}
	return chain.BlockRef{}, false
}

func (m *model) watched(k chain.Key) bool { return slices.Contains(modelWatched, k) }

// apply is the model of one transaction seen in the mempool or a block.
func (m *model) apply(tx chain.Tx, mined bool) {
	terminal, confirmed := false, false
	for _, p := range m.pays {
		if p.Outpoint.TxID == tx.ID {
			terminal = terminal || p.DoubleSpentBy != ""
			confirmed = confirmed || p.Block != nil
		}
	}
	if !mined && (terminal || confirmed) {
		return // a double-spent or confirmed transaction seen again
	}
	var victims []*Payment
	for _, p := range m.pays {
		if p.Outpoint.TxID == tx.ID || p.DoubleSpentBy != "" {
			continue
		}
		if slices.ContainsFunc(p.TxSpends, func(o chain.Outpoint) bool { return slices.Contains(tx.Spends, o) }) {
			if p.Block != nil {
				if !mined {
					return // stale mempool transaction, invalid on the best chain
				}
				continue
			}
			victims = append(victims, p)
		}
	}
	for _, p := range victims {
		p.DoubleSpentBy = tx.ID
	}
	if terminal {
		return // mined after all: still double spent, but it beats its rivals
	}
	for _, o := range tx.Outputs {
		op := chain.Outpoint{TxID: tx.ID, Index: o.Index}
		if _, ok := m.pays[op]; ok || !m.watched(o.Key) {
			continue
		}
		m.pays[op] = &Payment{Outpoint: op, Key: o.Key, Amount: o.Amount, TxSpends: tx.Spends, RBF: tx.RBF, From: tx.From}
	}
}

// settle recomputes every live payment's block and confirmations from the
// chain and drops the final ones.
func (m *model) settle() {
	for op, p := range m.pays {
		if p.DoubleSpentBy != "" {
			continue
		}
		r, ok := m.minedAt(op.TxID)
		if !ok {
			p.Block, p.Confirmations = nil, 0
			continue
		}
		p.Block, p.Confirmations = &r, m.tip()-r.Height+1
		if p.Confirmations >= int64(m.limit) {
			delete(m.pays, op)
		}
	}
}

func (m *model) freshTx(t *rapid.T) chain.Tx {
	m.nextID++
	id := fmt.Sprintf("t%d", m.nextID)
	in := rapid.SliceOfNDistinct(rapid.SampledFrom(modelFunds), 1, 2, rapid.ID[string]).Draw(t, "spends")
	n := rapid.IntRange(1, 2).Draw(t, "outputs")
	tx := chain.Tx{ID: id, Spends: spends(in...), RBF: rapid.Bool().Draw(t, "rbf"), From: "from-" + id}
	for i := range n {
		tx.Outputs = append(tx.Outputs, out(uint32(i), rapid.SampledFrom(modelKeys).Draw(t, "key"),
			rapid.Int64Range(1, 1000).Draw(t, "amount")))
	}
	m.txs = append(m.txs, tx)
	return tx
}

// candidate draws a known transaction not on the chain, or a fresh one;
// valid limits it to transactions whose inputs are unspent on the chain
// (and by the block's earlier transactions).
func (m *model) candidate(t *rapid.T, valid bool, block []chain.Tx) chain.Tx {
	var known []chain.Tx
	for _, tx := range m.txs {
		_, onChain := m.minedAt(tx.ID)
		inBlock := slices.ContainsFunc(block, func(b chain.Tx) bool { return b.ID == tx.ID })
		if onChain || inBlock {
			continue
		}
		if valid && slices.ContainsFunc(tx.Spends, func(o chain.Outpoint) bool { return m.spentOnChain(o, block) }) {
			continue
		}
		known = append(known, tx)
	}
	if len(known) > 0 && rapid.Bool().Draw(t, "reuse") {
		return rapid.SampledFrom(known).Draw(t, "known")
	}
	for range 10 {
		tx := m.freshTx(t)
		if !valid || !slices.ContainsFunc(tx.Spends, func(o chain.Outpoint) bool { return m.spentOnChain(o, block) }) {
			return tx
		}
	}
	return chain.Tx{ID: fmt.Sprintf("empty%d", len(m.txs))}
}

// replay applies an event log to the payments it describes, failing on any
// event that is not a real transition (a duplicate or a lost predecessor).
func replay(t *rapid.T, state map[chain.Outpoint]Payment, limit int, events []Event) {
	for _, e := range events {
		op := e.Payment.Outpoint
		old, known := state[op]
		if known && old.DoubleSpentBy != "" {
			t.Fatalf("%s for %v after it was double spent", e.Kind, op)
		}
		if e.Kind == PaymentSeen {
			if known || e.PreviousConfirmations != 0 {
				t.Fatalf("payment_seen for %v already known (%v)", op, known)
			}
		} else if !known || old.Confirmations != e.PreviousConfirmations {
			t.Fatalf("%s for %v: previous %d, replayed state %+v (known %v)", e.Kind, op, e.PreviousConfirmations, old, known)
		}
		switch p := e.Payment; e.Kind {
		case ConfirmationsChanged:
			if p.Confirmations == e.PreviousConfirmations || p.Block == nil {
				t.Fatalf("confirmations_changed for %v changed nothing", op)
			}
		case ReorgedOut:
			if p.Confirmations != 0 || p.Block != nil {
				t.Fatalf("reorged_out for %v still confirmed", op)
			}
		case DoubleSpent:
			if p.DoubleSpentBy == "" || p.DoubleSpentBy != e.ConflictTxID || p.Confirmations != 0 {
				t.Fatalf("double_spent for %v: %+v", op, e)
			}
		case Final:
			if p.Confirmations != int64(limit) {
				t.Fatalf("final for %v at %d confirmations", op, p.Confirmations)
			}
			delete(state, op)
			continue
		}
		state[op] = e.Payment
	}
}

var paymentCmp = cmp.Options{
	cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 }),
	cmpopts.EquateEmpty(),
}

func TestTrackerModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &model{limit: rapid.IntRange(1, 5).Draw(t, "limit"), pays: map[chain.Outpoint]*Payment{}}
		watch := NewWatchSet(0)
		for _, k := range modelWatched {
			watch.Add(k)
		}
		cfg := Config{SafetyLimit: m.limit}
		steady := New(cfg, watch)    // never restarts
		restarted := New(cfg, watch) // restarts from its own snapshots
		state := map[chain.Outpoint]Payment{}
		hashes := 0

		// both feeds the same input to both trackers and checks they agree
		// event for event and error for error.
		both := func(f func(*Tracker) ([]Event, error)) ([]Event, error) {
			e1, err1 := f(steady)
			e2, err2 := f(restarted)
			if diff := cmp.Diff(e1, e2, paymentCmp); diff != "" || fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("restarted tracker diverged (-steady +restarted):\n%s\nerrors %v / %v", diff, err1, err2)
			}
			replay(t, state, m.limit, e1)
			return e1, err1
		}
		wantErr := func(err, want error) {
			if !errors.Is(err, want) || (err == nil) != (want == nil) {
				t.Fatalf("error = %v, want %v", err, want)
			}
		}

		t.Repeat(map[string]func(*rapid.T){
			"mempool": func(t *rapid.T) {
				tx := m.candidate(t, rapid.IntRange(0, 4).Draw(t, "stale") > 0, nil)
				_, err := both(func(tr *Tracker) ([]Event, error) { return tr.Mempool(tx) })
				if m.halted {
					wantErr(err, ErrHalted)
					return
				}
				wantErr(err, nil)
				m.apply(tx, false)
			},
			"connect": func(t *rapid.T) {
				height, prev := int64(100), "genesis"
				if len(m.chain) > 0 {
					height, prev = m.tip()+1, m.chain[len(m.chain)-1].Hash
				}
				var txs []chain.Tx
				for range rapid.IntRange(0, 3).Draw(t, "txs") {
					txs = append(txs, m.candidate(t, true, txs))
				}
				hashes++
				b := blk(height, fmt.Sprintf("h%d", hashes), prev, txs...)
				_, err := both(func(tr *Tracker) ([]Event, error) { return tr.Connect(b) })
				if m.halted {
					wantErr(err, ErrHalted)
					return
				}
				wantErr(err, nil)
				m.chain = append(m.chain, b)
				m.depth = min(m.depth+1, m.limit)
				for _, tx := range txs {
					m.apply(tx, true)
				}
				m.settle()
			},
			"disconnect": func(t *rapid.T) {
				if len(m.chain) == 0 {
					_, err := both(func(tr *Tracker) ([]Event, error) { return tr.Disconnect(ref(100, "genesis")) })
					wantErr(err, cmpOr(m.halted, ErrHalted, ErrOutOfOrder))
					return
				}
				r := m.chain[len(m.chain)-1].Ref()
				_, err := both(func(tr *Tracker) ([]Event, error) { return tr.Disconnect(r) })
				switch {
				case m.halted:
					wantErr(err, ErrHalted)
				case m.depth == 1:
					wantErr(err, ErrReorgTooDeep)
					m.halted = true
				default:
					wantErr(err, nil)
					m.chain = m.chain[:len(m.chain)-1]
					m.depth--
					m.settle()
				}
			},
			"stale disconnect": func(t *rapid.T) {
				if len(m.chain) < 2 || m.halted {
					t.Skip("no block below the tip")
				}
				r := m.chain[len(m.chain)-2].Ref()
				_, err := both(func(tr *Tracker) ([]Event, error) { return tr.Disconnect(r) })
				wantErr(err, ErrOutOfOrder)
			},
			"restart": func(t *rapid.T) {
				// After a halt, both trackers are restored from the steady
				// one's state, as an operator would after checking the node.
				src := restarted
				if m.halted {
					src = steady
					fresh := New(cfg, watch)
					if err := fresh.Restore(src.Recent(), src.Payments()); err != nil {
						t.Fatalf("Restore: %v", err)
					}
					steady = fresh
					m.halted = false
				}
				fresh := New(cfg, watch)
				if err := fresh.Restore(src.Recent(), src.Payments()); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				restarted = fresh
			},
			"forget": func(t *rapid.T) {
				if len(m.pays) == 0 {
					t.Skip("nothing tracked")
				}
				ops := slices.SortedFunc(maps.Keys(m.pays), compareOutpoints)
				op := rapid.SampledFrom(ops).Draw(t, "forget")
				steady.Forget(op)
				restarted.Forget(op)
				delete(m.pays, op)
				delete(state, op)
			},
			"": func(t *rapid.T) {
				want := make([]Payment, 0, len(m.pays))
				for _, p := range m.pays {
					want = append(want, *p)
				}
				slices.SortFunc(want, func(a, b Payment) int { return compareOutpoints(a.Outpoint, b.Outpoint) })
				replayed := slices.SortedFunc(maps.Values(state), func(a, b Payment) int { return compareOutpoints(a.Outpoint, b.Outpoint) })
				if diff := cmp.Diff(want, replayed, paymentCmp); diff != "" {
					t.Fatalf("event log replayed differs from the model (-model +replayed):\n%s", diff)
				}
				for _, tr := range []*Tracker{steady, restarted} {
					if diff := cmp.Diff(want, tr.Payments(), paymentCmp); diff != "" {
						t.Fatalf("Payments() differs from the model (-model +tracker):\n%s", diff)
					}
					var recent []chain.BlockRef
					for _, b := range m.chain[len(m.chain)-m.depth:] {
						recent = append(recent, b.Ref())
					}
					if diff := cmp.Diff(recent, tr.Recent(), cmpopts.EquateEmpty()); diff != "" {
						t.Fatalf("Recent() (-model +tracker):\n%s", diff)
					}
				}
				// Every confirmed payment sits on the best chain with
				// tip-height+1 confirmations.
				for _, p := range replayed {
					if p.Confirmations == 0 {
						continue
					}
					r, ok := m.minedAt(p.Outpoint.TxID)
					if !ok || p.Block == nil || *p.Block != r || p.Confirmations != m.tip()-r.Height+1 || p.DoubleSpentBy != "" {
						t.Fatalf("payment %v reported with %d confirmations in %v, chain has it in %v (%v)",
							p.Outpoint, p.Confirmations, p.Block, r, ok)
					}
				}
			},
		})
	})
}

func cmpOr(cond bool, a, b error) error {
	if cond {
		return a
	}
	return b
}
