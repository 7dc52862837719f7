// Package btcblock turns raw Bitcoin blocks and transactions (the bytes a
// node returns from getblock with verbosity 0 and getrawtransaction) into the
// chain-agnostic chain.Block and chain.Tx, keeping only the transactions a
// Filter says matter.
//
// It is a pure parser: no I/O, no node client, no script validation, no
// consensus checks (proof of work, merkle root, signatures). It trusts the
// node for validity and only guarantees that malformed bytes produce an error
// and never a panic. It scans the serialisation in place instead of building
// a wire.MsgBlock, and hashes only the transactions it keeps, because a
// gateway watching a handful of addresses discards almost every transaction
// of every block.
package btcblock

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/cryptopay/cryptopay/internal/chain"
)

// ErrMalformed is wrapped by every error reporting bytes that are not a
// well-formed block or transaction serialisation.
var ErrMalformed = errors.New("btcblock: malformed serialisation")

// maxSatoshi is the 21 million BTC supply cap. An output above it (or
// negative) cannot be in a valid block, so it is reported as malformed
// rather than handed on as money.
const maxSatoshi = 21_000_000 * 100_000_000

// Filter tells the parser which transactions to keep. A transaction is kept
// when one of its P2WPKH outputs pays a key HasKey reports, or when one of
// its inputs spends an outpoint HasSpend reports. Implementations must be
// safe for the calls of one parse (they are made sequentially) and fast:
// HasKey is called for every P2WPKH output of every transaction.
type Filter interface {
	HasKey(k chain.Key) bool
	HasSpend(op chain.Outpoint) bool
}

// ParseBlock parses a serialised block (witness encoding, as getblock with
// verbosity 0 returns it) at the given height. params selects the network
// for the From address. With a nil filter every transaction is kept.
//
// The result's Hash and Prev are display hex (byte-reversed). Txs holds the
// kept transactions in block order; see ParseTx for what each carries.
// Malformed or truncated bytes, trailing bytes, or an amount outside
// [0, 21e14] satoshi yield an error wrapping ErrMalformed; a nil params
// yields an error. ParseBlock never panics on any input.
func ParseBlock(raw []byte, height int64, params *chaincfg.Params, want Filter) (chain.Block, error) {
	if params == nil {
		return chain.Block{}, errors.New("btcblock: nil network params")
	}
	if len(raw) < 80 {
		return chain.Block{}, fmt.Errorf("%w: block shorter than its 80-byte header", ErrMalformed)
	}
	hdr := raw[:80]
	hash := doubleSHA256(hdr)
	blk := chain.Block{
		Height: height,
		Hash:   hexRev(hash[:]),
		Prev:   hexRev(hdr[4:36]),
		Time:   int64(le32(hdr[68:72])),
	}
	c := cursor{b: raw, p: 80}
	// The smallest transaction serialisation is 10 bytes (version, two
	// empty counts, lock time); bounding the count by it keeps a hostile
	// count from driving an allocation.
	n := c.count(10)
	if c.bad {
		return chain.Block{}, fmt.Errorf("%w: bad transaction count", ErrMalformed)
	}
	if n == 0 {
		return chain.Block{}, fmt.Errorf("%w: block without transactions", ErrMalformed)
	}
	var sc scratch
	for i := 0; i < n; i++ {
		lay, keep, err := scanTx(&c, want, &sc)
		if err != nil {
			return chain.Block{}, fmt.Errorf("%w: tx %d: %v", ErrMalformed, i, err)
		}
		if !keep {
			continue
		}
		tx, err := buildTx(raw, lay, params, &sc)
		if err != nil {
			return chain.Block{}, fmt.Errorf("%w: tx %d: %v", ErrMalformed, i, err)
		}
		blk.Txs = append(blk.Txs, tx)
	}
	if c.p != len(raw) {
		return chain.Block{}, fmt.Errorf("%w: %d trailing bytes after the last transaction", ErrMalformed, len(raw)-c.p)
	}
	return blk, nil
}

// ParseTx parses one serialised transaction (as getrawtransaction returns
// it, with or without witness data) for the given network.
//
// The result carries the txid (display hex, witness excluded), Spends for
// every input except a coinbase's null outpoint, only the P2WPKH outputs
// (index, 20-byte program, amount in satoshi), RBF when any input sequence
// is below 0xfffffffe, and From: the address of the first input whose
// address the input itself reveals (P2WPKH, P2SH-wrapped P2WPKH or P2PKH),
// else "". Malformed, truncated or over-long bytes yield an error wrapping
// ErrMalformed; a nil params yields an error. ParseTx never panics.
func ParseTx(raw []byte, params *chaincfg.Params) (chain.Tx, error) {
	if params == nil {
		return chain.Tx{}, errors.New("btcblock: nil network params")
	}
	c := cursor{b: raw}
	var sc scratch
	lay, _, err := scanTx(&c, nil, &sc)
	if err != nil {
		return chain.Tx{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.p != len(raw) {
		return chain.Tx{}, fmt.Errorf("%w: %d trailing bytes after the transaction", ErrMalformed, len(raw)-c.p)
	}
	tx, err := buildTx(raw, lay, params, &sc)
	if err != nil {
		return chain.Tx{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return tx, nil
}

// amount converts an 8-byte output value, refusing what no valid
// transaction holds.
func amount(v uint64) (*big.Int, error) {
	if v > maxSatoshi {
		return nil, fmt.Errorf("output value %d outside the money range", int64(v))
	}
	return new(big.Int).SetUint64(v), nil
}
