package tracker

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// Scripted chains: blocks are named by hash, funding outputs by txid ("f1"
// is output 0 of transaction f1), keys by a small number.

func key(n byte) chain.Key { return chain.Key{0: n, 19: n} }

func out(index uint32, k chain.Key, amount int64) chain.Output {
	return chain.Output{Index: index, Key: k, Amount: big.NewInt(amount)}
}

func spends(ids ...string) []chain.Outpoint {
	ops := make([]chain.Outpoint, len(ids))
	for i, id := range ids {
		ops[i] = chain.Outpoint{TxID: id}
	}
	return ops
}

func mktx(id string, in []string, outs ...chain.Output) chain.Tx {
	return chain.Tx{ID: id, Spends: spends(in...), Outputs: outs, RBF: true, From: "sender-" + id}
}

func blk(height int64, hash, prev string, txs ...chain.Tx) chain.Block {
	return chain.Block{Height: height, Hash: hash, Prev: prev, Time: 1_700_000_000 + height*600, Txs: txs}
}

func ref(height int64, hash string) chain.BlockRef { return chain.BlockRef{Height: height, Hash: hash} }

// describe renders events compactly so that table cases read like a log:
// "kind txid:index prev->confs [@block] [by conflict]".
func describe(events []Event) []string {
	var out []string
	for _, e := range events {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s:%d %d->%d", e.Kind, e.Payment.Outpoint.TxID, e.Payment.Outpoint.Index,
			e.PreviousConfirmations, e.Payment.Confirmations)
		if e.Payment.Block != nil {
			fmt.Fprintf(&b, " @%s", e.Payment.Block.Hash)
		}
		if e.ConflictTxID != "" {
			fmt.Fprintf(&b, " by %s", e.ConflictTxID)
		}
		out = append(out, b.String())
	}
	return out
}
