package evmsource

import (
	"math"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// transferTopic is keccak256("Transfer(address,address,uint256)"), the
// first topic of every ERC-20 Transfer log.
var transferTopic = common.HexToHash("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")

// rpcBlock is the part of eth_getBlockByHash's answer (with full
// transactions) the source reads; decoding only these fields keeps a block
// of a few hundred transactions cheap.
type rpcBlock struct {
	Number       hexutil.Uint64 `json:"number"`
	Hash         common.Hash    `json:"hash"`
	ParentHash   common.Hash    `json:"parentHash"`
	Timestamp    hexutil.Uint64 `json:"timestamp"`
	Transactions []rpcTx        `json:"transactions"`
}

type rpcTx struct {
	Hash  common.Hash     `json:"hash"`
	From  common.Address  `json:"from"`
	To    *common.Address `json:"to"` // nil for a contract creation
	Value *hexutil.Big    `json:"value"`
	Nonce hexutil.Uint64  `json:"nonce"`
}

// rpcLog is one log of eth_getLogs.
type rpcLog struct {
	Address common.Address `json:"address"`
	Topics  []common.Hash  `json:"topics"`
	Data    hexutil.Bytes  `json:"data"`
	TxHash  common.Hash    `json:"transactionHash"`
	Index   hexutil.Uint   `json:"logIndex"`
	Removed bool           `json:"removed"`
}

// candidate is a transaction of the block that may matter: it pays a
// watched key (ether or tokens) or uses the nonce of a tracked payment's
// sender. Its outputs still need the receipt: the transaction's status
// (ether is only moved by a successful transaction) and the position of
// each log within it.
type candidate struct {
	tx     *rpcTx
	native bool     // value > 0 to a watched key
	logs   []rpcLog // token Transfer logs to watched keys, block order
	spend  bool     // uses a watched nonce: a possible double spend
}

// nonceSlot is the outpoint an EVM transaction "spends": its sender's
// nonce. Two transactions with one sender and nonce can never both be
// mined, which is exactly a Bitcoin double spend, so the tracker's
// conflict rules apply unchanged.
func nonceSlot(from common.Address, nonce uint64) (chain.Outpoint, bool) {
	if nonce > math.MaxUint32 {
		return chain.Outpoint{}, false // 4 billion transactions from one account: never
	}
	return chain.Outpoint{TxID: "nonce:" + strings.ToLower(from.Hex()), Index: uint32(nonce)}, true
}

// keyOf is the watch key of an account address: its 20 bytes.
func keyOf(a common.Address) chain.Key { return chain.Key(a) }

// selectCandidates picks the candidates of a block: transactions sending ether to a
// watched key, Transfer logs of registered tokens to a watched key, and
// transactions using a tracked sender nonce. It is the whole per-block
// cost against a large watched set: one map lookup per transaction and per
// token log, and nothing else for a block that pays nobody.
func selectCandidates(b *rpcBlock, logs []rpcLog, f watcher.Filter) []*candidate {
	var out []*candidate
	byHash := map[common.Hash]*candidate{}
	get := func(tx *rpcTx) *candidate {
		c := byHash[tx.Hash]
		if c == nil {
			c = &candidate{tx: tx}
			byHash[tx.Hash] = c
			out = append(out, c)
		}
		return c
	}
	index := map[common.Hash]*rpcTx{}
	for i := range b.Transactions {
		tx := &b.Transactions[i]
		if tx.To != nil && tx.Value != nil && tx.Value.ToInt().Sign() > 0 && f.HasKey(keyOf(*tx.To)) {
			get(tx).native = true
		}
		if slot, ok := nonceSlot(tx.From, uint64(tx.Nonce)); ok && f.HasSpend(slot) {
			get(tx).spend = true
		}
		if len(logs) > 0 {
			index[tx.Hash] = tx
		}
	}
	for _, l := range logs {
		if l.Removed || len(l.Topics) != 3 || l.Topics[0] != transferTopic || len(l.Data) != 32 {
			continue // not an ERC-20 Transfer (an ERC-721 one has 4 topics)
		}
		to := common.BytesToAddress(l.Topics[2][12:])
		if !f.HasKey(keyOf(to)) {
			continue
		}
		tx := index[l.TxHash]
		if tx == nil {
			continue // a log of a transaction not in this block: a node inconsistency
		}
		c := get(tx)
		c.logs = append(c.logs, l)
	}
	return out
}

// receipt is the part of a transaction receipt the source reads.
type receipt struct {
	Status    hexutil.Uint64 `json:"status"`
	BlockHash common.Hash    `json:"blockHash"`
	Logs      []rpcLog       `json:"logs"`
}

// toTx turns a candidate and its receipt into the tracker's transaction:
// output 0 is the ether paid (only if the transaction succeeded), output
// 1+i is the Transfer log at position i of the transaction's logs.
func toTx(c *candidate, r *receipt, assets map[common.Address]string) chain.Tx {
	tx := chain.Tx{ID: strings.ToLower(c.tx.Hash.Hex()), From: c.tx.From.Hex()}
	if slot, ok := nonceSlot(c.tx.From, uint64(c.tx.Nonce)); ok {
		tx.Spends = []chain.Outpoint{slot}
	}
	if r.Status != 1 {
		return tx // reverted: it moved nothing, but it did use the nonce
	}
	if c.native {
		tx.Outputs = append(tx.Outputs, chain.Output{Index: 0, Key: keyOf(*c.tx.To), Amount: new(big.Int).Set(c.tx.Value.ToInt())})
	}
	if len(c.logs) > 0 && len(r.Logs) > 0 {
		first := r.Logs[0].Index
		for _, l := range c.logs {
			asset, ok := assets[l.Address]
			if !ok || l.Index < first {
				continue
			}
			tx.Outputs = append(tx.Outputs, chain.Output{
				Index:  uint32(l.Index-first) + 1,
				Key:    keyOf(common.BytesToAddress(l.Topics[2][12:])),
				Amount: new(big.Int).SetBytes(l.Data),
				Asset:  asset,
			})
		}
	}
	return tx
}
