package evmsource

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// setFilter is a fixed watched set for the pure selection logic.
type setFilter map[chain.Key]bool

func (f setFilter) HasKey(k chain.Key) bool       { return f[k] }
func (setFilter) HasSpend(op chain.Outpoint) bool { return false }

func TestSelectAndOutputs(t *testing.T) {
	watched := common.HexToAddress("0x00000000000000000000000000000000000000a1")
	stranger := common.HexToAddress("0x00000000000000000000000000000000000000b2")
	token := common.HexToAddress("0x00000000000000000000000000000000000000c3")
	from := common.HexToAddress("0x00000000000000000000000000000000000000d4")
	f := setFilter{chain.Key(watched): true}
	wei := func(n int64) *hexutil.Big { v := hexutil.Big(*big.NewInt(n)); return &v }
	tx := func(i int64, to common.Address, v int64) rpcTx {
		return rpcTx{Hash: common.BigToHash(big.NewInt(i)), From: from, To: &to, Value: wei(v), Nonce: hexutil.Uint64(i)}
	}
	transfer := func(txi int64, idx uint, to common.Address, units int64, topics int) rpcLog {
		tp := []common.Hash{transferTopic, common.BytesToHash(from.Bytes()), common.BytesToHash(to.Bytes())}
		if topics == 4 {
			tp = append(tp, common.BigToHash(big.NewInt(7))) // an ERC-721 token id
		}
		return rpcLog{Address: token, Topics: tp, Data: common.BigToHash(big.NewInt(units)).Bytes(), TxHash: common.BigToHash(big.NewInt(txi)), Index: hexutil.Uint(idx)}
	}
	b := &rpcBlock{Transactions: []rpcTx{
		tx(1, watched, 5),  // ether to a watched address
		tx(2, stranger, 5), // ether elsewhere
		tx(3, watched, 0),  // a zero-value call to a watched address
		tx(4, token, 0),    // a token call paying watched (log below)
	}}
	logs := []rpcLog{
		transfer(4, 10, stranger, 1, 3), // position 0 in tx 4: not ours
		transfer(4, 11, watched, 2_500_000, 3),
		transfer(4, 12, watched, 1, 4), // ERC-721, not a token amount
	}
	cands := selectCandidates(b, logs, f)
	if len(cands) != 2 || cands[0].tx.Hash != b.Transactions[0].Hash || cands[1].tx.Hash != b.Transactions[3].Hash {
		t.Fatalf("candidates = %+v, want txs 1 and 4", cands)
	}
	assets := map[common.Address]string{token: "USDC"}
	// Tx 4's receipt lists all its logs: block indexes 10, 11, 12.
	r := &receipt{Status: 1, Logs: []rpcLog{{Index: 10}, {Index: 11}, {Index: 12}}}
	got := toTx(cands[1], r, assets)
	if len(got.Outputs) != 1 || got.Outputs[0].Index != 2 || got.Outputs[0].Asset != "USDC" || got.Outputs[0].Amount.Int64() != 2_500_000 {
		t.Errorf("token outputs = %+v, want one USDC 2500000 at index 2 (second log of the tx)", got.Outputs)
	}
	if len(got.Spends) != 1 || got.Spends[0].Index != 4 {
		t.Errorf("spends = %+v, want the sender's nonce 4", got.Spends)
	}
	eth := toTx(cands[0], &receipt{Status: 1}, assets)
	if len(eth.Outputs) != 1 || eth.Outputs[0].Index != 0 || eth.Outputs[0].Asset != "" || eth.Outputs[0].Amount.Int64() != 5 {
		t.Errorf("ether outputs = %+v, want 5 wei at index 0, native", eth.Outputs)
	}
	reverted := toTx(cands[0], &receipt{Status: 0}, assets)
	if len(reverted.Outputs) != 0 || len(reverted.Spends) != 1 {
		t.Errorf("a reverted transaction = %+v, want no outputs and its nonce spent", reverted)
	}
}
