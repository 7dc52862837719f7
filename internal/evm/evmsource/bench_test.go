package evmsource

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// benchFilter is the watcher's filter: the watched set and the tracker.
type benchFilter struct {
	w  *tracker.WatchSet
	tr *tracker.Tracker
}

func (f benchFilter) HasKey(k chain.Key) bool         { return f.w.Has(k) }
func (f benchFilter) HasSpend(op chain.Outpoint) bool { return f.tr.IsWatchedSpend(op) }

// spreadAddress makes distinct, well-spread addresses, as keccak-derived
// ones are.
func spreadAddress(i uint64) common.Address {
	var a common.Address
	binary.BigEndian.PutUint64(a[:8], i*0x9E3779B97F4A7C15)
	binary.BigEndian.PutUint64(a[8:16], i)
	binary.BigEndian.PutUint32(a[16:], uint32(i>>7))
	return a
}

// BenchmarkEVMBlock measures the per-block cost of the EVM source and the
// tracker against 1,000,000 watched addresses, for an Ethereum mainnet
// sized block: 300 transactions (half sending ether) and 500 Transfer logs
// of the registered tokens, as the node returns them. "decode" includes
// decoding the JSON answers of eth_getBlockByHash and eth_getLogs;
// "select" starts from decoded values, comparable to the tracker's
// BenchmarkConnect (which starts from a parsed Bitcoin block). Each
// sub-benchmark's block pays watched addresses in 0 or 3 transactions (the
// receipts those need are a network round trip each, not measured here).
func BenchmarkEVMBlock(b *testing.B) {
	const keys, txs, logs = 1_000_000, 300, 500
	w := tracker.NewWatchSet(keys)
	for i := range uint64(keys) {
		w.Add(chain.Key(spreadAddress(i)))
	}
	usdc := common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
	assets := map[common.Address]string{usdc: "USDC"}
	for _, paying := range []int{0, 3} {
		blk := rpcBlock{Transactions: make([]rpcTx, txs)}
		for i := range blk.Transactions {
			to := spreadAddress(uint64(keys + i))
			v := hexutil.Big(*big.NewInt(int64(i % 2 * 1e15)))
			blk.Transactions[i] = rpcTx{Hash: common.BigToHash(big.NewInt(int64(i + 1))), From: spreadAddress(uint64(2*keys + i)), To: &to, Value: &v, Nonce: hexutil.Uint64(i)}
		}
		lg := make([]rpcLog, logs)
		for i := range lg {
			to := spreadAddress(uint64(3*keys + i))
			lg[i] = rpcLog{Address: usdc, Topics: []common.Hash{transferTopic, common.BytesToHash(spreadAddress(uint64(i)).Bytes()), common.BytesToHash(to.Bytes())},
				Data: common.BigToHash(big.NewInt(1_000_000)).Bytes(), TxHash: blk.Transactions[i%txs].Hash, Index: hexutil.Uint(i)}
		}
		for i := range paying {
			lg[i*logs/paying].Topics[2] = common.BytesToHash(spreadAddress(uint64(i)).Bytes())
		}
		rawBlock, _ := json.Marshal(blk)
		rawLogs, _ := json.Marshal(lg)
		for _, decode := range []bool{true, false} {
			name := fmt.Sprintf("select/paying_%d", paying)
			if decode {
				name = fmt.Sprintf("decode/paying_%d", paying)
			}
			b.Run(name, func(b *testing.B) {
				tr := tracker.New(tracker.Config{SafetyLimit: 128}, w)
				f := benchFilter{w, tr}
				height, prev := int64(20_000_000), "genesis"
				b.ReportAllocs()
				for b.Loop() {
					bk, ls := &blk, lg
					if decode {
						var db rpcBlock
						var dl []rpcLog
						if err := json.Unmarshal(rawBlock, &db); err != nil {
							b.Fatal(err)
						}
						if err := json.Unmarshal(rawLogs, &dl); err != nil {
							b.Fatal(err)
						}
						bk, ls = &db, dl
					}
					out := chain.Block{Height: height, Hash: fmt.Sprint(height), Prev: prev}
					for _, c := range selectCandidates(bk, ls, f) {
						// A fresh hash per block, as a new block's transactions have.
						r := &receipt{Status: 1, Logs: c.logs}
						tx := toTx(c, r, assets)
						tx.ID = fmt.Sprint(height, tx.ID)
						out.Txs = append(out.Txs, tx)
					}
					if _, err := tr.Connect(out); err != nil {
						b.Fatal(err)
					}
					height, prev = height+1, out.Hash
				}
			})
		}
	}
}
