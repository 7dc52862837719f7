// Package chain holds the chain-agnostic vocabulary shared by every chain
// source (Bitcoin, later EVM chains) and the confirmation tracker: blocks,
// transactions, outputs paying watched keys, and the events the tracker
// returns as values.
//
// It is not a node client and it performs no I/O. Sources translate their
// chain's wire format into these types; the tracker consumes them.
package chain

import "math/big"

// Key identifies a watched destination compactly: the 20-byte witness
// program of a P2WPKH output on Bitcoin, the 20-byte account address on an
// EVM chain. Sources emit only outputs whose destination can be expressed as
// a Key; anything else can never pay one of our deposit addresses.
type Key [20]byte

// Outpoint names one payment output: a transaction id and the output index
// (vout on Bitcoin, log index on EVM chains).
type Outpoint struct {
	TxID  string
	Index uint32
}

// BlockRef names a block on one chain by height and hash.
type BlockRef struct {
	Height int64
	Hash   string
}

// Block is a block as a source hands it to the tracker. Txs holds only the
// transactions that matter to the tracker (those with at least one output
// to a watched key, or spending an outpoint the tracker asked about), or all
// of them; the tracker must not depend on which.
type Block struct {
	Height int64
	Hash   string
	Prev   string // hash of the parent block
	Time   int64  // block header time, unix seconds
	Txs    []Tx
}

// Ref returns the block's height and hash.
func (b Block) Ref() BlockRef { return BlockRef{Height: b.Height, Hash: b.Hash} }

// Tx is a transaction reduced to what payment tracking needs.
type Tx struct {
	ID      string
	Spends  []Outpoint // inputs: the outpoints this transaction consumes
	Outputs []Output   // only outputs whose destination is a Key
	RBF     bool       // signals BIP125 replaceability (any input sequence < 0xfffffffe)
	From    string     // address of the first input whose address can be derived, or ""
}

// Output is one transaction output whose destination is a Key. On an EVM
// chain a transaction pays ether to its recipient (Index 0) and tokens
// through Transfer logs (Index 1 + the log's position among the
// transaction's logs: a position within the transaction, not the block, so
// the same transaction mined again in another block keeps its outpoints).
type Output struct {
	Index  uint32
	Key    Key
	Amount *big.Int // base units (satoshi, wei, token units); never nil
	// Asset is what the output pays: "" for the network's native asset
	// (always, on Bitcoin), else the code of a registered token ("USDC").
	// The watcher credits an output only to an invoice in the same asset.
	Asset string
}
