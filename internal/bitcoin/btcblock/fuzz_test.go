package btcblock

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// FuzzParseBlock checks ParseBlock never panics and agrees with btcd's
// decoder: whatever it accepts, wire accepts with the same transaction ids.
func FuzzParseBlock(f *testing.F) {
	rng := rand.New(rand.NewPCG(13, 14))
	f.Add(serializeBlock(f, genBlock(rng, 2)))
	var buf bytes.Buffer
	_ = chaincfg.MainNetParams.GenesisBlock.Serialize(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := ParseBlock(raw, 1, &chaincfg.RegressionNetParams, nil)
		if err != nil {
			return
		}
		var blk wire.MsgBlock
		r := bytes.NewReader(raw)
		if err := blk.Deserialize(r); err != nil {
			// wire caps some sizes (script and witness item lengths)
			// that consensus does not; only agreement on accepted
			// bytes is checked.
			return
		}
		if r.Len() != 0 || len(blk.Transactions) != len(got.Txs) {
			t.Fatalf("wire read %d txs leaving %d bytes; ParseBlock kept %d", len(blk.Transactions), r.Len(), len(got.Txs))
		}
		for i, tx := range blk.Transactions {
			if tx.TxHash().String() != got.Txs[i].ID {
				t.Fatalf("tx %d: id %s, wire %s", i, got.Txs[i].ID, tx.TxHash())
			}
		}
	})
}

// FuzzParseTx checks ParseTx never panics and that an accepted
// transaction's id matches btcd's.
func FuzzParseTx(f *testing.F) {
	rng := rand.New(rand.NewPCG(15, 16))
	blk := genBlock(rng, 4)
	for _, tx := range blk.Transactions {
		f.Add(serializeTx(f, tx))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := ParseTx(raw, &chaincfg.MainNetParams)
		if err != nil {
			return
		}
		var tx wire.MsgTx
		r := bytes.NewReader(raw)
		if err := tx.Deserialize(r); err != nil || r.Len() != 0 {
			return
		}
		if tx.TxHash().String() != got.ID {
			t.Fatalf("id %s, wire %s", got.ID, tx.TxHash())
		}
	})
}
