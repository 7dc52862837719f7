package watcher

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// TestSnapshotRoundTrip: what the watcher stores after a block restores a
// tracker that encodes to the same bytes.
func TestSnapshotRoundTrip(t *testing.T) {
	watch := tracker.NewWatchSet(1)
	key := chain.Key{1, 2, 3}
	watch.Add(key)
	tr := tracker.New(tracker.Config{SafetyLimit: 10}, watch)
	big1 := new(big.Int).Lsh(big.NewInt(1), 80) // beyond int64: wei-sized amounts survive
	blocks := []chain.Block{
		{Height: 7, Hash: "h7", Prev: "h6", Txs: []chain.Tx{{ID: "tx1", Spends: []chain.Outpoint{{TxID: "in", Index: 2}},
			Outputs: []chain.Output{{Index: 0, Key: key, Amount: big1}}, RBF: true, From: "bcrt1qsender"}}},
		{Height: 8, Hash: "h8", Prev: "h7"},
	}
	for _, b := range blocks {
		if _, err := tr.Connect(b); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := encodeSnapshot(tr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	payments := st.payments
	again := tracker.New(tracker.Config{SafetyLimit: 10}, watch)
	if err := again.Restore(st.recent, st.payments, st.conflicts); err != nil {
		t.Fatal(err)
	}
	snap2, _ := encodeSnapshot(again)
	if !bytes.Equal(snap, snap2) {
		t.Fatalf("snapshot changed through a restore:\n%s\n%s", snap, snap2)
	}
	if len(payments) != 1 || payments[0].Amount.Cmp(big1) != 0 || payments[0].Confirmations != 2 {
		t.Fatalf("restored payments: %+v", payments)
	}
}

// TestSnapshotVersion1: a snapshot written before conflicts were facts
// still loads, its double spent payment conflicted (not counted) by its
// conflict.
func TestSnapshotVersion1(t *testing.T) {
	v1 := []byte(`{"v":1,"recent":[{"Height":7,"Hash":"h7"}],"payments":[{"txid":"a","index":0,"key":"0102030000000000000000000000000000000000","amount":"5","spends":[{"TxID":"f","Index":0}],"double_spent_by":"x","confirmations":0}]}`)
	st, err := decodeSnapshot(v1)
	if err != nil {
		t.Fatal(err)
	}
	tr := tracker.New(tracker.Config{SafetyLimit: 10}, nil)
	if err := tr.Restore(st.recent, st.payments, st.conflicts); err != nil {
		t.Fatal(err)
	}
	if p := tr.Payments(); len(p) != 1 || p[0].ConflictedBy != "x" || p[0].Counted() {
		t.Fatalf("version 1 double spend restored as %+v", p)
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add([]byte(`{"v":1,"recent":[{"Height":1,"Hash":"a"}],"payments":[]}`))
	f.Add([]byte(`{"v":1,"payments":[{"txid":"t","index":0,"key":"0102","amount":"5"}]}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":3}`))
	f.Add([]byte(`{"v":2,"recent":[{"Height":1,"Hash":"a"}],"payments":[{"txid":"t","index":0,"key":"0102030405060708091011121314151617181920","amount":"5","spends":[{"TxID":"f","Index":0}],"conflicted_by":"x","seen":1}],"conflicts":[{"txid":"x","spends":[{"TxID":"f","Index":0}],"seen":2}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		// A decoded snapshot is either refused by Restore or restores.
		tr := tracker.New(tracker.Config{SafetyLimit: 10}, nil)
		_ = tr.Restore(st.recent, st.payments, st.conflicts)
	})
}
