package tracker

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// The oracle. A small node is simulated (a best chain and a mempool with a
// node's rules: a transaction spending what another spends displaces it
// from the mempool, a mined one removes its mempool rivals, a disconnected
// block's transactions return to the mempool) and the tracker is fed what
// a watcher would see of it. The oracle knows nothing of the tracker's
// rules: from the final best chain and mempool alone it lists the outputs
// to watched keys that count (in a best-chain block, or in the mempool) and
// their confirmations, leaving out those deep enough to be final.

var (
	oracleWatched = []chain.Key{key(1), key(2)}
	oracleKeys    = []chain.Key{key(1), key(2), key(9)} // key 9 is never watched
	oracleFunds   = []string{"f0", "f1", "f2", "f3", "f4"}
)

type node struct {
	chain   []chain.Block
	mempool []chain.Tx
	hashes  int
}

func sharesInput(a, b chain.Tx) bool {
	return slices.ContainsFunc(a.Spends, func(o chain.Outpoint) bool { return slices.Contains(b.Spends, o) })
}

// spentOnChain reports whether the chain has tx or a transaction sharing
// an input with it.
func (n *node) clashesWithChain(tx chain.Tx) bool {
	for _, b := range n.chain {
		for _, c := range b.Txs {
			if c.ID == tx.ID || sharesInput(c, tx) {
				return true
			}
		}
	}
	return false
}

// accept is the node's mempool acceptance: valid against the chain, it
// displaces the mempool transactions it conflicts with.
func (n *node) accept(tx chain.Tx) bool {
	if n.clashesWithChain(tx) {
		return false
	}
	if slices.ContainsFunc(n.mempool, func(m chain.Tx) bool { return m.ID == tx.ID }) {
		return true
	}
	n.mempool = slices.DeleteFunc(n.mempool, func(m chain.Tx) bool { return sharesInput(m, tx) })
	n.mempool = append(n.mempool, tx)
	return true
}

func (n *node) mine(txs []chain.Tx) chain.Block {
	height, prev := int64(100), "genesis"
	if len(n.chain) > 0 {
		tip := n.chain[len(n.chain)-1]
		height, prev = tip.Height+1, tip.Hash
	}
	n.hashes++
	b := blk(height, fmt.Sprintf("h%d", n.hashes), prev, txs...)
	n.chain = append(n.chain, b)
	n.mempool = slices.DeleteFunc(n.mempool, func(m chain.Tx) bool {
		return slices.ContainsFunc(txs, func(c chain.Tx) bool { return c.ID == m.ID || sharesInput(c, m) })
	})
	return b
}

func (n *node) popBlock() {
	b := n.chain[len(n.chain)-1]
	n.chain = n.chain[:len(n.chain)-1]
	for _, tx := range b.Txs {
		n.accept(tx)
	}
}

// credited is the oracle: outpoint → confirmations of every output to a
// watched key that counts and is not final. A block is final once the
// chain the tracker followed was ever limit blocks deep above it
// (maxTip-limit+1 or lower): a payment there is reported Final and let go.
func (n *node) credited(limit int, maxTip int64) map[chain.Outpoint]int64 {
	out := map[chain.Outpoint]int64{}
	add := func(tx chain.Tx, confs int64) {
		for _, o := range tx.Outputs {
			if slices.Contains(oracleWatched, o.Key) {
				out[chain.Outpoint{TxID: tx.ID, Index: o.Index}] = confs
			}
		}
	}
	if len(n.chain) > 0 {
		tip := n.chain[len(n.chain)-1].Height
		for _, b := range n.chain {
			if confs := tip - b.Height + 1; b.Height > maxTip-int64(limit)+1 {
				for _, tx := range b.Txs {
					add(tx, confs)
				}
			}
		}
	}
	for _, tx := range n.mempool {
		add(tx, 0)
	}
	return out
}

// feeder is the watcher's side: which mempool transactions it already fed.
type feeder struct {
	fed map[string]bool
}

// sync brings tr to view (the node's chain, or a lagging node's prefix of
// it) the way the watcher does, then, for the node itself, feeds the
// mempool transactions not fed yet (all of them after a reorg). It returns
// whether the node was behind.
func (f *feeder) sync(t *rapid.T, tr *Tracker, view []chain.Block, mempool []chain.Tx) (behind bool, events []Event) {
	hashAt := func(h int64) (string, error) {
		for _, b := range view {
			if b.Height == h {
				return b.Hash, nil
			}
		}
		return "", errors.New("no block")
	}
	nodeTip := view[len(view)-1].Height
	fork, behind, err := tr.ForkPoint(nodeTip, hashAt)
	if err != nil {
		t.Fatalf("ForkPoint: %v", err)
	}
	if behind {
		return true, nil
	}
	reorged := false
	for _, r := range slices.Backward(tr.Recent()) {
		if r.Height <= fork {
			break
		}
		evs, err := tr.Disconnect(r)
		if err != nil {
			t.Fatalf("Disconnect %v: %v", r, err)
		}
		events = append(events, evs...)
		reorged = true
	}
	for _, b := range view {
		if b.Height > fork {
			evs, err := tr.Connect(b)
			if err != nil {
				t.Fatalf("Connect %d: %v", b.Height, err)
			}
			events = append(events, evs...)
		}
	}
	if mempool == nil {
		return false, events
	}
	if reorged {
		f.fed = map[string]bool{}
	}
	listed := map[string]bool{}
	for _, tx := range mempool {
		listed[tx.ID] = true
		if f.fed[tx.ID] {
			continue
		}
		evs, err := tr.Mempool(tx)
		if err != nil {
			t.Fatalf("Mempool %s: %v", tx.ID, err)
		}
		events = append(events, evs...)
	}
	f.fed = listed
	ids := make([]string, 0, len(mempool))
	for _, tx := range mempool {
		ids = append(ids, tx.ID)
	}
	evs, err := tr.MempoolListed(ids)
	if err != nil {
		t.Fatalf("MempoolListed: %v", err)
	}
	return false, append(events, evs...)
}

// trackerView is what the tracker counts: outpoint → confirmations.
func trackerView(tr *Tracker) map[chain.Outpoint]int64 {
	out := map[chain.Outpoint]int64{}
	for _, p := range tr.Payments() {
		if p.Counted() {
			out[p.Outpoint] = p.Confirmations
		}
	}
	return out
}

func TestTrackerOracle(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		limit := rapid.IntRange(2, 6).Draw(t, "limit")
		watch := NewWatchSet(0)
		for _, k := range oracleWatched {
			watch.Add(k)
		}
		cfg := Config{SafetyLimit: limit}
		steady := New(cfg, watch)    // never restarts
		restarted := New(cfg, watch) // restarted from its own snapshots
		feeders := [2]*feeder{{fed: map[string]bool{}}, {fed: map[string]bool{}}}
		n := &node{}
		var txs []chain.Tx
		nextID := 0
		freshTx := func(t *rapid.T) chain.Tx {
			nextID++
			id := fmt.Sprintf("t%d", nextID)
			in := rapid.SliceOfNDistinct(rapid.SampledFrom(oracleFunds), 1, 2, rapid.ID[string]).Draw(t, "spends")
			tx := chain.Tx{ID: id, Spends: spends(in...), RBF: true, From: "from-" + id}
			for i := range rapid.IntRange(1, 2).Draw(t, "outputs") {
				tx.Outputs = append(tx.Outputs, out(uint32(i), rapid.SampledFrom(oracleKeys).Draw(t, "key"),
					rapid.Int64Range(1, 1000).Draw(t, "amount")))
			}
			txs = append(txs, tx)
			return tx
		}
		// candidate is a known transaction (a replacement or a rebroadcast)
		// or a fresh one.
		candidate := func(t *rapid.T) chain.Tx {
			if len(txs) > 0 && rapid.Bool().Draw(t, "reuse") {
				return rapid.SampledFrom(txs).Draw(t, "known")
			}
			return freshTx(t)
		}
		n.mine(nil)
		maxTip := int64(0)
		syncBoth := func(t *rapid.T, view []chain.Block, mempool []chain.Tx) bool {
			b1, e1 := feeders[0].sync(t, steady, view, mempool)
			b2, e2 := feeders[1].sync(t, restarted, view, mempool)
			// Seen numbers only order mempool entries; a restored tracker
			// renumbers from what it kept.
			if diff := cmp.Diff(e1, e2, paymentCmp, cmpopts.IgnoreFields(Payment{}, "Seen")); diff != "" || b1 != b2 {
				t.Fatalf("restarted tracker diverged (-steady +restarted):\n%s", diff)
			}
			if tip, ok := steady.Tip(); ok {
				maxTip = max(maxTip, tip.Height)
			}
			return b1
		}
		syncBoth(t, n.chain, n.mempool)

		t.Repeat(map[string]func(*rapid.T){
			"send": func(t *rapid.T) {
				n.accept(candidate(t))
			},
			"mine": func(t *rapid.T) {
				var block []chain.Tx
				for _, tx := range n.mempool {
					if rapid.IntRange(0, 3).Draw(t, "include") > 0 {
						block = append(block, tx)
					}
				}
				// Sometimes a transaction the mempool never showed.
				if rapid.IntRange(0, 3).Draw(t, "direct") == 0 {
					tx := freshTx(t)
					if !n.clashesWithChain(tx) && !slices.ContainsFunc(block, func(b chain.Tx) bool { return sharesInput(b, tx) }) {
						block = append(block, tx)
					}
				}
				n.mine(block)
			},
			"reorg": func(t *rapid.T) {
				// Only from a synced state, and less deep than the trackers
				// remember (deeper reorgs halt; the scripted tests cover it).
				if tip, _ := steady.Tip(); tip.Hash != n.chain[len(n.chain)-1].Hash || len(steady.Recent()) < 2 {
					t.Skip("not synced or too short")
				}
				depth := rapid.IntRange(1, len(steady.Recent())-1).Draw(t, "depth")
				for range depth {
					n.popBlock()
				}
				for range rapid.IntRange(0, depth+1).Draw(t, "new blocks") {
					var block []chain.Tx
					for _, tx := range n.mempool {
						if rapid.Bool().Draw(t, "include") {
							block = append(block, tx)
						}
					}
					if rapid.Bool().Draw(t, "conflict") {
						tx := freshTx(t)
						if !n.clashesWithChain(tx) && !slices.ContainsFunc(block, func(b chain.Tx) bool { return sharesInput(b, tx) }) {
							block = append(block, tx)
						}
					}
					n.mine(block)
				}
				if len(n.chain) == 0 || (len(n.chain) > 0 && rapid.Bool().Draw(t, "extend")) {
					n.mine(nil)
				}
			},
			"lagging node": func(t *rapid.T) {
				// A node that has only a prefix of the chain: the trackers
				// may catch up to it but never disconnect for it.
				cut := rapid.IntRange(1, len(n.chain)).Draw(t, "lagging height")
				view := n.chain[:cut]
				before := steady.Recent()
				behind := syncBoth(t, view, nil)
				tip, _ := steady.Tip()
				if !behind && tip != view[cut-1].Ref() {
					t.Fatalf("after syncing to a lagging node at %d the tip is %v", view[cut-1].Height, tip)
				}
				if behind && !slices.Equal(before, steady.Recent()) {
					t.Fatalf("a lagging node made the tracker disconnect: %v -> %v", before, steady.Recent())
				}
			},
			"sync": func(t *rapid.T) {
				syncBoth(t, n.chain, n.mempool)
			},
			"restart": func(t *rapid.T) {
				fresh := New(cfg, watch)
				if err := fresh.Restore(restarted.Recent(), restarted.Payments(), restarted.Conflicts()); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				restarted = fresh
			},
			"": func(t *rapid.T) {
				if tip, _ := steady.Tip(); tip.Hash != n.chain[len(n.chain)-1].Hash {
					return // compared only once synced with the node
				}
				if !feeders[0].caughtUp(n.mempool) {
					return
				}
				want := n.credited(limit, maxTip)
				for name, tr := range map[string]*Tracker{"steady": steady, "restarted": restarted} {
					if diff := cmp.Diff(want, trackerView(tr), cmpopts.EquateEmpty()); diff != "" {
						t.Fatalf("%s tracker counts differently from the chain (-oracle +tracker):\n%s\npayments: %+v", name, diff, tr.Payments())
					}
				}
				if diff := cmp.Diff(steady.Payments(), restarted.Payments(), paymentCmp, cmpopts.IgnoreFields(Payment{}, "Seen")); diff != "" {
					t.Fatalf("restarted tracker diverged:\n%s", diff)
				}
			},
		})
	})
}

// caughtUp tells whether the last sync saw the node's current mempool:
// the oracle is compared only then.
func (f *feeder) caughtUp(mempool []chain.Tx) bool {
	if len(f.fed) != len(mempool) {
		return false
	}
	for _, tx := range mempool {
		if !f.fed[tx.ID] {
			return false
		}
	}
	return true
}

var paymentCmp = cmp.Options{
	cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 }),
	cmpopts.EquateEmpty(),
}
