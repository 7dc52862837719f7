package tracker

import (
	"errors"
	"math/big"
	"testing"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/google/go-cmp/cmp"
)

func TestRestoreRejectsInconsistentSnapshots(t *testing.T) {
	recent := []chain.BlockRef{ref(100, "a100"), ref(101, "a101"), ref(102, "a102")}
	at := func(h int64, hash string) *chain.BlockRef { r := ref(h, hash); return &r }
	pay := func(txid string, index uint32, block *chain.BlockRef, confs int64) Payment {
		p := Payment{Outpoint: chain.Outpoint{TxID: txid, Index: index}, Key: k1, Amount: big.NewInt(1),
			TxSpends: spends("f-" + txid), Block: block, Confirmations: confs}
		if block == nil {
			p.Seen = 1 // in the mempool
		}
		return p
	}
	cases := []struct {
		name   string
		recent []chain.BlockRef
		pays   []Payment
		ok     bool
	}{
		{name: "consistent", recent: recent, ok: true, pays: []Payment{
			pay("A", 0, at(101, "a101"), 2), pay("A", 1, at(101, "a101"), 2), pay("B", 0, nil, 0),
		}},
		{name: "empty", ok: true},
		{name: "longer history than the limit keeps the last blocks", ok: true,
			recent: []chain.BlockRef{ref(99, "a99"), ref(100, "a100"), ref(101, "a101"), ref(102, "a102"), ref(103, "a103")},
			pays:   []Payment{pay("A", 0, at(101, "a101"), 3)}},
		{name: "gap in heights", recent: []chain.BlockRef{ref(100, "a100"), ref(102, "a102")}},
		{name: "block without hash", recent: []chain.BlockRef{ref(100, "")}},
		{name: "payment in an unknown block", recent: recent, pays: []Payment{pay("A", 0, at(101, "b101"), 2)}},
		{name: "payment below the kept blocks", recent: recent, pays: []Payment{pay("A", 0, at(99, "a99"), 4)}},
		{name: "payment already final", recent: append([]chain.BlockRef{ref(99, "a99")}, recent...),
			pays: []Payment{pay("A", 0, at(99, "a99"), 4)}},
		{name: "wrong confirmations", recent: recent, pays: []Payment{pay("A", 0, at(101, "a101"), 3)}},
		{name: "unconfirmed with confirmations", recent: recent, pays: []Payment{pay("A", 0, nil, 1)}},
		{name: "listed twice", recent: recent, pays: []Payment{pay("A", 0, nil, 0), pay("A", 0, nil, 0)}},
		{name: "no amount", recent: recent, pays: []Payment{{Outpoint: chain.Outpoint{TxID: "A"}}}},
		{name: "payments of one transaction disagree", recent: recent,
			pays: []Payment{pay("A", 0, nil, 0), pay("A", 1, at(102, "a102"), 1)}},
		{name: "double spent yet in a block", recent: recent,
			pays: []Payment{func() Payment { p := pay("A", 0, at(102, "a102"), 1); p.DoubleSpentBy = "X"; return p }()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{SafetyLimit: 4}, NewWatchSet(0))
			if _, err := tr.Connect(blk(7, "x7", "x6")); err != nil {
				t.Fatal(err)
			}
			err := tr.Restore(tc.recent, tc.pays, nil)
			if tc.ok {
				if err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if diff := cmp.Diff(tc.pays, tr.Payments(), cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); len(tc.pays) > 0 && diff != "" {
					t.Errorf("Payments after Restore (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore error = %v, want ErrBadSnapshot", err)
			}
			if tip, _ := tr.Tip(); tip != ref(7, "x7") {
				t.Errorf("a failed Restore changed the tip to %v", tip)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{
		PaymentSeen: "payment_seen", ConfirmationsChanged: "confirmations_changed", ReorgedOut: "reorged_out",
		DoubleSpent: "double_spent", Final: "final", 0: "kind(0)", 42: "kind(42)",
	}
	for k, s := range want {
		if got := k.String(); got != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, s)
		}
	}
}

func TestEventsAreCopies(t *testing.T) {
	w := NewWatchSet(0)
	w.Add(k1)
	tr := New(Config{}, w)
	events, err := tr.Mempool(payA)
	if err != nil || len(events) != 1 {
		t.Fatalf("Mempool = %v, %v", events, err)
	}
	events[0].Payment.Amount.SetInt64(1)
	events[0].Payment.TxSpends[0].TxID = "changed"
	p := tr.Payments()[0]
	if p.Amount.Int64() != 5000 || p.TxSpends[0].TxID != "f1" {
		t.Errorf("changing an event changed the tracker: %+v", p)
	}
}
