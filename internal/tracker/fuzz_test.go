package tracker

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/google/go-cmp/cmp"
)

// FuzzRestore feeds Restore snapshots decoded from arbitrary bytes, as a
// corrupted database might hold: it must never panic, and whatever it
// accepts must survive another snapshot and restore unchanged.
func FuzzRestore(f *testing.F) {
	f.Add([]byte{3, 100, 0, 1, 2, 0, 5, 1, 1, 0, 9})
	f.Add([]byte{1, 7, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		var recent []chain.BlockRef
		start := int64(next())
		for i := range next() % 6 {
			h := start + int64(i)
			if next()%5 == 0 {
				h++ // sometimes a gap
			}
			recent = append(recent, ref(h, fmt.Sprintf("b%d", h)))
		}
		var pays []Payment
		for range next() % 5 {
			p := Payment{
				Outpoint: chain.Outpoint{TxID: fmt.Sprintf("t%d", next()%3), Index: uint32(next() % 2)},
				Key:      key(byte(next())),
				Amount:   big.NewInt(int64(next()) - 10),
				TxSpends: spends(fmt.Sprintf("f%d", next()%3)),
			}
			if h := next(); h%2 == 1 {
				r := ref(start+int64(h%7), fmt.Sprintf("b%d", start+int64(h%7)))
				p.Block = &r
			}
			p.Confirmations = int64(next() % 6)
			if next()%4 == 0 {
				p.DoubleSpentBy = "x"
			}
			if next()%4 == 0 {
				p.ConflictedBy = "x"
			}
			p.Seen = uint64(next() % 3)
			p.Dropped = next()%5 == 0
			pays = append(pays, p)
		}
		var conflicts []Conflict
		for range next() % 3 {
			c := Conflict{TxID: fmt.Sprintf("x%d", next()%2), Spends: spends(fmt.Sprintf("f%d", next()%3)), Seen: uint64(next() % 4)}
			if c.TxID == "x0" {
				c.TxID = "x"
			}
			if h := next(); h%2 == 1 {
				r := ref(start+int64(h%7), fmt.Sprintf("b%d", start+int64(h%7)))
				c.Block = &r
			}
			conflicts = append(conflicts, c)
		}
		tr := New(Config{SafetyLimit: 4}, NewWatchSet(0))
		if err := tr.Restore(recent, pays, conflicts); err != nil {
			return
		}
		again := New(Config{SafetyLimit: 4}, NewWatchSet(0))
		if err := again.Restore(tr.Recent(), tr.Payments(), tr.Conflicts()); err != nil {
			t.Fatalf("a snapshot of an accepted snapshot is rejected: %v", err)
		}
		cmpBig := cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })
		if diff := cmp.Diff(tr.Payments(), again.Payments(), cmpBig); diff != "" {
			t.Fatalf("payments changed across restore:\n%s", diff)
		}
		if diff := cmp.Diff(tr.Conflicts(), again.Conflicts()); diff != "" {
			t.Fatalf("conflicts changed across restore:\n%s", diff)
		}
		if diff := cmp.Diff(tr.Recent(), again.Recent()); diff != "" {
			t.Fatalf("recent changed across restore:\n%s", diff)
		}
	})
}
