package tracker

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// BenchmarkConnect connects blocks of 3,000 transactions with 2 outputs
// each (every transaction handed over, as a source that does not filter
// would) against 1,000,000 watched keys. "paying_30" makes 30 transactions
// per block pay a watched key, so after SafetyLimit blocks about 3,000
// confirmed payments get a confirmation event on every block.
func BenchmarkConnect(b *testing.B) {
	const keys, txs = 1_000_000, 3000
	w := NewWatchSet(keys)
	for i := range uint64(keys) {
		w.Add(spreadKey(i))
	}
	for _, paying := range []int{0, 30} {
		b.Run(fmt.Sprintf("paying_%d", paying), func(b *testing.B) {
			tr := New(Config{}, w)
			block := chain.Block{Txs: make([]chain.Tx, txs)}
			for i := range block.Txs {
				block.Txs[i] = chain.Tx{
					ID:     fmt.Sprintf("%064x", i),
					Spends: []chain.Outpoint{{TxID: fmt.Sprintf("%064x", i+1<<40), Index: 1}},
					Outputs: []chain.Output{
						{Index: 0, Key: spreadKey(uint64(keys + 2*i)), Amount: big.NewInt(1000)},
						{Index: 1, Key: spreadKey(uint64(keys + 2*i + 1)), Amount: big.NewInt(2000)},
					},
				}
			}
			for i := range paying {
				block.Txs[i*txs/paying].Outputs[1].Key = spreadKey(uint64(i))
			}
			height, prev := int64(800_000), "genesis"
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				// Fresh txids for the paying transactions, as a new block has.
				for i := range paying {
					block.Txs[i*txs/paying].ID = fmt.Sprintf("%d-%d", height, i)
				}
				block.Height, block.Hash, block.Prev = height, fmt.Sprint(height), prev
				b.StartTimer()
				if _, err := tr.Connect(block); err != nil {
					b.Fatal(err)
				}
				height, prev = height+1, block.Hash
			}
		})
	}
}
