package btcblock

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// benchBlock is a ~1 MB block of 3,000 transactions plus a filter watching
// 1,000,000 keys, one of which a block output pays.
func benchBlock(b *testing.B) ([]byte, keySet) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	blk := genBlock(rng, 3000)
	raw := serializeBlock(b, blk)
	set := keySet{keys: make(map[chain.Key]struct{}, 1_000_000)}
	for range 1_000_000 - 1 {
		var k chain.Key
		copy(k[:], randBytes(rng, 20))
		set.keys[k] = struct{}{}
	}
	var paid chain.Key
	copy(paid[:], blk.Transactions[1500].TxOut[0].PkScript[2:])
	set.keys[paid] = struct{}{}
	return raw, set
}

func BenchmarkParseBlock(b *testing.B) {
	raw, set := benchBlock(b)
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		blk, err := ParseBlock(raw, 1, &chaincfg.MainNetParams, set)
		if err != nil {
			b.Fatal(err)
		}
		if len(blk.Txs) == 0 {
			b.Fatal("watched transaction not kept")
		}
	}
}

func BenchmarkBareDeserialize(b *testing.B) {
	raw, _ := benchBlock(b)
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBlockKeepAll is the worst case: every transaction kept,
// hashed and decoded.
func BenchmarkParseBlockKeepAll(b *testing.B) {
	raw, _ := benchBlock(b)
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ParseBlock(raw, 1, &chaincfg.MainNetParams, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// trackerFilter is what the watcher hands a source: the tracker's watch set
// and spent-outpoint index.
type trackerFilter struct {
	w *tracker.WatchSet
	t *tracker.Tracker
}

func (f trackerFilter) HasKey(k chain.Key) bool         { return f.w.Has(k) }
func (f trackerFilter) HasSpend(op chain.Outpoint) bool { return f.t.IsWatchedSpend(op) }

// BenchmarkProcessBlock is the watcher's whole per-block work on the same
// block as BenchmarkBareDeserialize: parse against 1,000,000 watched keys
// held in the tracker's WatchSet, then feed the result to the tracker. The
// issue's target is under twice the bare deserialisation time; compare the
// two in one run:
//
//	go test -run '^$' -bench 'ProcessBlock|BareDeserialize' ./internal/bitcoin/btcblock
func BenchmarkProcessBlock(b *testing.B) {
	raw, set := benchBlock(b)
	watch := tracker.NewWatchSet(len(set.keys))
	for k := range set.keys {
		watch.Add(k)
	}
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		tr := tracker.New(tracker.Config{}, watch)
		blk, err := ParseBlock(raw, 1, &chaincfg.MainNetParams, trackerFilter{watch, tr})
		if err != nil {
			b.Fatal(err)
		}
		events, err := tr.Connect(blk)
		if err != nil || len(events) == 0 {
			b.Fatalf("Connect: %d events, %v", len(events), err)
		}
	}
}
