package btcrpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/cryptopay/cryptopay/internal/bitcoin/btcblock"
	"github.com/cryptopay/cryptopay/internal/chain"
)

// BlockCount returns the height of the node's best chain (getblockcount).
// Errors: *TransportError, *RPCError, *ResponseError.
func (c *Client) BlockCount(ctx context.Context) (int64, error) {
	var n int64
	if err := c.call(ctx, "getblockcount", nil, &n); err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, &ResponseError{Method: "getblockcount", Reason: "negative height"}
	}
	return n, nil
}

// BestBlockHash returns the hash of the best chain's tip
// (getbestblockhash). Errors as for BlockCount.
func (c *Client) BestBlockHash(ctx context.Context) (string, error) {
	return c.hashCall(ctx, "getbestblockhash", nil)
}

// BlockHash returns the hash of the best-chain block at height
// (getblockhash). A height above the tip is an *RPCError (code -8 on
// Bitcoin Core, -1 on btcd).
func (c *Client) BlockHash(ctx context.Context, height int64) (string, error) {
	return c.hashCall(ctx, "getblockhash", []any{height})
}

func (c *Client) hashCall(ctx context.Context, method string, params []any) (string, error) {
	var h string
	if err := c.call(ctx, method, params, &h); err != nil {
		return "", err
	}
	if !isHash(h) {
		return "", &ResponseError{Method: method, Reason: "not a 64-digit hex hash"}
	}
	return h, nil
}

// Header is a block header as the node describes it.
type Header struct {
	Hash          string
	Prev          string // "" for the genesis block
	Height        int64
	Time          int64 // header time, unix seconds
	Confirmations int64 // -1 on Bitcoin Core when the block is not on the best chain
}

// BlockHeader returns the header of the block with the given hash
// (getblockheader, verbose). An unknown hash is an *RPCError (-5).
func (c *Client) BlockHeader(ctx context.Context, hash string) (Header, error) {
	const method = "getblockheader"
	var r struct {
		Hash          string `json:"hash"`
		Prev          string `json:"previousblockhash"`
		Height        *int64 `json:"height"`
		Time          int64  `json:"time"`
		Confirmations int64  `json:"confirmations"`
	}
	if err := c.call(ctx, method, []any{hash}, &r); err != nil {
		return Header{}, err
	}
	switch {
	case r.Hash != hash:
		return Header{}, &ResponseError{Method: method, Reason: "header for a different hash"}
	case r.Prev != "" && !isHash(r.Prev):
		return Header{}, &ResponseError{Method: method, Reason: "previousblockhash is not a 64-digit hex hash"}
	case r.Height == nil || *r.Height < 0:
		return Header{}, &ResponseError{Method: method, Reason: "missing or negative height"}
	}
	return Header{Hash: r.Hash, Prev: r.Prev, Height: *r.Height, Time: r.Time, Confirmations: r.Confirmations}, nil
}

// RawBlock returns the serialised block with the given hash (getblock,
// verbosity 0).
func (c *Client) RawBlock(ctx context.Context, hash string) ([]byte, error) {
	return c.hexCall(ctx, "getblock", []any{hash, 0})
}

// Block fetches the block with the given hash and parses it with
// btcblock.ParseBlock at the given height, keeping the transactions want
// selects (all when want is nil). Bytes that do not parse, or parse to a
// different hash, are a *ResponseError.
func (c *Client) Block(ctx context.Context, height int64, hash string, want btcblock.Filter) (chain.Block, error) {
	raw, err := c.RawBlock(ctx, hash)
	if err != nil {
		return chain.Block{}, err
	}
	blk, err := btcblock.ParseBlock(raw, height, c.params, want)
	if err != nil {
		return chain.Block{}, &ResponseError{Method: "getblock", Reason: err.Error()}
	}
	if blk.Hash != hash {
		return chain.Block{}, &ResponseError{Method: "getblock", Reason: "block bytes hash to " + blk.Hash}
	}
	return blk, nil
}

// RawMempool returns the txids in the node's mempool (getrawmempool).
func (c *Client) RawMempool(ctx context.Context) ([]string, error) {
	const method = "getrawmempool"
	var ids []string
	if err := c.call(ctx, method, nil, &ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !isHash(id) {
			return nil, &ResponseError{Method: method, Reason: "txid is not a 64-digit hex hash"}
		}
	}
	return ids, nil
}

// RawTransaction returns a serialised transaction (getrawtransaction,
// non-verbose). Mempool transactions are always found; confirmed ones only
// with the node's transaction index. An unknown txid is an *RPCError (-5).
func (c *Client) RawTransaction(ctx context.Context, txid string) ([]byte, error) {
	return c.hexCall(ctx, "getrawtransaction", []any{txid})
}

// Transaction fetches a transaction and parses it with btcblock.ParseTx.
// Bytes that do not parse, or hash to another txid, are a *ResponseError.
func (c *Client) Transaction(ctx context.Context, txid string) (chain.Tx, error) {
	raw, err := c.RawTransaction(ctx, txid)
	if err != nil {
		return chain.Tx{}, err
	}
	tx, err := btcblock.ParseTx(raw, c.params)
	if err != nil {
		return chain.Tx{}, &ResponseError{Method: "getrawtransaction", Reason: err.Error()}
	}
	if tx.ID != txid {
		return chain.Tx{}, &ResponseError{Method: "getrawtransaction", Reason: "transaction bytes hash to " + tx.ID}
	}
	return tx, nil
}

func (c *Client) hexCall(ctx context.Context, method string, params []any) ([]byte, error) {
	var s string
	if err := c.call(ctx, method, params, &s); err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, &ResponseError{Method: method, Reason: "result is not non-empty hex"}
	}
	return b, nil
}

// SendRawTransaction submits a serialised transaction and returns its txid
// (sendrawtransaction). A rejection is an *RPCError carrying the node's
// reason (codes -25, -26, -27 on both nodes).
func (c *Client) SendRawTransaction(ctx context.Context, raw []byte) (string, error) {
	return c.hashCall(ctx, "sendrawtransaction", []any{hex.EncodeToString(raw)})
}

// FeeRate is a fee estimate in satoshi per 1,000 virtual bytes.
type FeeRate struct {
	SatPerKVB int64
	Blocks    int  // confirmation target the node answered for; 0 for the fallback
	Fallback  bool // the node could not estimate; SatPerKVB is the configured fallback
}

// EstimateFee asks for a fee rate to confirm within target blocks
// (estimatesmartfee). When the node cannot estimate (btcd has no such
// call; Bitcoin Core on a fresh chain answers without a feerate) it
// returns the configured fallback with Fallback set and no error. Only a
// transport failure or an unreadable answer is an error.
func (c *Client) EstimateFee(ctx context.Context, target int) (FeeRate, error) {
	const method = "estimatesmartfee"
	var r struct {
		FeeRate json.RawMessage `json:"feerate"`
		Blocks  int             `json:"blocks"`
	}
	err := c.call(ctx, method, []any{target}, &r)
	var re *RPCError
	if errors.As(err, &re) {
		return FeeRate{SatPerKVB: c.fallback, Fallback: true}, nil
	}
	if err != nil {
		return FeeRate{}, err
	}
	if len(r.FeeRate) == 0 || string(r.FeeRate) == "null" {
		return FeeRate{SatPerKVB: c.fallback, Fallback: true}, nil
	}
	// A JSON number only: json.Number alone would also accept a string.
	var num json.Number
	if r.FeeRate[0] == '"' || json.Unmarshal(r.FeeRate, &num) != nil {
		return FeeRate{}, &ResponseError{Method: method, Reason: "feerate is not a number"}
	}
	sat, err := btcToSat(num.String())
	if err != nil || sat <= 0 {
		return FeeRate{}, &ResponseError{Method: method, Reason: "feerate is not a positive BTC amount"}
	}
	return FeeRate{SatPerKVB: sat, Blocks: r.Blocks}, nil
}

// btcToSat converts a JSON number of BTC to satoshi exactly, rounding a
// sub-satoshi remainder up (a fee rate is better slightly high).
func btcToSat(s string) (int64, error) {
	// big.Rat would expand an exponent like 1e999999999 into a huge
	// integer; a fee rate never needs one beyond a few digits.
	if len(s) > 40 {
		return 0, fmt.Errorf("number too long")
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(s[i+1:]); err != nil || exp < -30 || exp > 30 {
			return 0, fmt.Errorf("exponent out of range")
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	r.Mul(r, big.NewRat(100_000_000, 1))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > 21_000_000*100_000_000 {
		return 0, fmt.Errorf("out of range: %q", s)
	}
	return q.Int64(), nil
}

// MempoolSpends asks which mempool transactions spend the given outpoints
// (gettxspendingprevout) and returns spending txid by outpoint, omitting
// outpoints no mempool transaction spends. Nodes without the call (Bitcoin
// Core before 24) yield an error wrapping ErrUnsupported.
func (c *Client) MempoolSpends(ctx context.Context, ops []chain.Outpoint) (map[chain.Outpoint]string, error) {
	const method = "gettxspendingprevout"
	type prevout struct {
		TxID string `json:"txid"`
		Vout uint32 `json:"vout"`
	}
	in := make([]prevout, len(ops))
	for i, op := range ops {
		in[i] = prevout{TxID: op.TxID, Vout: op.Index}
	}
	var r []struct {
		TxID     string  `json:"txid"`
		Vout     *uint32 `json:"vout"`
		Spending string  `json:"spendingtxid"`
	}
	if err := c.call(ctx, method, []any{in}, &r); err != nil {
		return nil, unsupported(err)
	}
	out := make(map[chain.Outpoint]string)
	for _, e := range r {
		if !isHash(e.TxID) || e.Vout == nil {
			return nil, &ResponseError{Method: method, Reason: "entry without txid and vout"}
		}
		if e.Spending == "" {
			continue
		}
		if !isHash(e.Spending) {
			return nil, &ResponseError{Method: method, Reason: "spendingtxid is not a 64-digit hex hash"}
		}
		out[chain.Outpoint{TxID: e.TxID, Index: *e.Vout}] = e.Spending
	}
	return out, nil
}

// ChainInfo is what getblockchaininfo reports that the gateway uses.
type ChainInfo struct {
	Chain         string // as the node names it: "main"/"mainnet", "test"/"testnet3", "regtest", ...
	Blocks        int64
	Headers       int64
	BestBlockHash string
	// InitialBlockDownload is Bitcoin Core's flag (btcd reports none:
	// false); a node in IBD is not synced whatever its counts say.
	InitialBlockDownload bool
	// Pruned and PruneHeight: a pruned node keeps blocks from PruneHeight
	// up (getblock below it fails with "Block not available (pruned data)").
	Pruned      bool
	PruneHeight int64
}

// ChainInfo calls getblockchaininfo.
func (c *Client) ChainInfo(ctx context.Context) (ChainInfo, error) {
	const method = "getblockchaininfo"
	var r struct {
		Chain       string `json:"chain"`
		Blocks      int64  `json:"blocks"`
		Headers     int64  `json:"headers"`
		Best        string `json:"bestblockhash"`
		IBD         bool   `json:"initialblockdownload"`
		Pruned      bool   `json:"pruned"`
		PruneHeight int64  `json:"pruneheight"`
	}
	if err := c.call(ctx, method, nil, &r); err != nil {
		return ChainInfo{}, err
	}
	if r.Chain == "" || !isHash(r.Best) {
		return ChainInfo{}, &ResponseError{Method: method, Reason: "missing chain or bestblockhash"}
	}
	if r.Blocks < 0 || r.Headers < 0 || r.PruneHeight < 0 {
		return ChainInfo{}, &ResponseError{Method: method, Reason: "negative block count"}
	}
	return ChainInfo{Chain: r.Chain, Blocks: r.Blocks, Headers: r.Headers, BestBlockHash: r.Best,
		InitialBlockDownload: r.IBD, Pruned: r.Pruned, PruneHeight: r.PruneHeight}, nil
}

// chainNames maps btcd's network names (chaincfg Params.Name) to every
// name a node may report for that network: btcd reports Params.Name,
// Bitcoin Core its own short names.
var chainNames = map[string][]string{
	"mainnet":  {"mainnet", "main"},
	"testnet3": {"testnet3", "test"},
	"testnet4": {"testnet4"},
	"signet":   {"signet"},
	"regtest":  {"regtest"},
	"simnet":   {"simnet"},
}

// CheckNetwork verifies that the node serves the configured network. It
// returns an error wrapping ErrWrongNetwork (naming both networks) on a
// mismatch, or the call's error.
func (c *Client) CheckNetwork(ctx context.Context) error {
	info, err := c.ChainInfo(ctx)
	if err != nil {
		return err
	}
	names, ok := chainNames[c.params.Name]
	if !ok {
		names = []string{c.params.Name}
	}
	for _, n := range names {
		if info.Chain == n {
			return nil
		}
	}
	return fmt.Errorf("%w: node reports %q, configured %q", ErrWrongNetwork, info.Chain, c.params.Name)
}

// isHash reports 64 lowercase hex digits, the only form both nodes emit.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return false
		}
	}
	return true
}
