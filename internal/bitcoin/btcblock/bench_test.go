package btcblock

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/cryptopay/cryptopay/internal/chain"
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
