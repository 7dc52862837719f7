package btcrpc

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/chain"
)

// watch is a btcblock.Filter over a set of keys.
type watch map[chain.Key]struct{}

func (w watch) HasKey(k chain.Key) bool         { _, ok := w[k]; return ok }
func (w watch) HasSpend(chain.Outpoint) bool    { return false }
func keyOf(t *testing.T, addr string) chain.Key { return chain.Key(program(t, addr)) }

func program(t *testing.T, addr string) []byte {
	t.Helper()
	a, err := address.DecodeAddress(addr, regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	return a.ScriptAddress()
}

// waitFor reads notifications until one satisfies match, failing the test
// at the deadline.
func waitFor(t *testing.T, ch <-chan Notification, what string, match func(Notification) bool) {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case n, ok := <-ch:
			if !ok {
				t.Fatalf("notification channel closed while waiting for %s", what)
			}
			if match(n) {
				return
			}
		case <-deadline.C:
			t.Fatalf("no %s notification within the deadline", what)
		}
	}
}

// TestRealNode drives a btcd regtest node through the client: chain reads,
// raw block parsing checked against the node's own verbose view, a payment
// in the mempool, websocket notifications and the node-side errors.
func TestRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a btcd node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wallet, err := regtest.NewWallet(bytes.Repeat([]byte{7}, 32), regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	node, err := regtest.Start(ctx, regtest.Options{Dir: t.TempDir(), MiningAddress: wallet.MiningAddress()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Stop() })
	c, err := New(Config{URL: node.RPCURL(), User: node.RPCUser(), Password: node.RPCPassword(), Params: regtest.Params})
	if err != nil {
		t.Fatal(err)
	}
	if c.wsURL != node.WebsocketURL() {
		t.Errorf("derived websocket URL %q, node serves %q", c.wsURL, node.WebsocketURL())
	}
	if err := c.CheckNetwork(ctx); err != nil {
		t.Fatalf("CheckNetwork: %v", err)
	}
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	notes, err := c.Subscribe(subCtx)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	hashes, err := node.Mine(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	tip := hashes[100]

	t.Run("tip, hash at height, header", func(t *testing.T) {
		if n, err := c.BlockCount(ctx); err != nil || n != 101 {
			t.Errorf("BlockCount = %d, %v; want 101", n, err)
		}
		if h, err := c.BestBlockHash(ctx); err != nil || h != tip {
			t.Errorf("BestBlockHash = %s, %v; want %s", h, err, tip)
		}
		if h, err := c.BlockHash(ctx, 50); err != nil || h != hashes[49] {
			t.Errorf("BlockHash(50) = %s, %v; want %s", h, err, hashes[49])
		}
		hdr, err := c.BlockHeader(ctx, tip)
		if err != nil || hdr.Height != 101 || hdr.Prev != hashes[99] || hdr.Confirmations != 1 || hdr.Time == 0 {
			t.Errorf("BlockHeader = %+v, %v", hdr, err)
		}
	})

	t.Run("raw block matches verbose getblock", func(t *testing.T) {
		var verbose struct {
			Hash string   `json:"hash"`
			Prev string   `json:"previousblockhash"`
			Time int64    `json:"time"`
			Tx   []string `json:"tx"`
		}
		if err := node.Call(ctx, "getblock", []any{tip, 1}, &verbose); err != nil {
			t.Fatal(err)
		}
		blk, err := c.Block(ctx, 101, tip, nil)
		if err != nil {
			t.Fatal(err)
		}
		if blk.Hash != verbose.Hash || blk.Prev != verbose.Prev || blk.Time != verbose.Time || len(blk.Txs) != len(verbose.Tx) {
			t.Errorf("parsed %s prev %s time %d with %d txs; node says %s prev %s time %d with %d",
				blk.Hash, blk.Prev, blk.Time, len(blk.Txs), verbose.Hash, verbose.Prev, verbose.Time, len(verbose.Tx))
		}
		for i := range min(len(blk.Txs), len(verbose.Tx)) {
			if blk.Txs[i].ID != verbose.Tx[i] {
				t.Errorf("tx %d: %s, node %s", i, blk.Txs[i].ID, verbose.Tx[i])
			}
		}
	})

	t.Run("blockconnected notification", func(t *testing.T) {
		waitFor(t, notes, "blockconnected "+tip, func(n Notification) bool {
			return n.Kind == BlockConnected && n.Hash == tip && n.Height == 101
		})
	})

	if pool, err := c.RawMempool(ctx); err != nil || len(pool) != 0 {
		t.Fatalf("RawMempool before paying = %v, %v; want empty", pool, err)
	}
	to, err := wallet.Address(0)
	if err != nil {
		t.Fatal(err)
	}
	txid, raw, err := wallet.Pay(ctx, node, to, 50_000, regtest.Opts{RBF: true})
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}

	t.Run("payment in the mempool", func(t *testing.T) {
		pool, err := c.RawMempool(ctx)
		if err != nil || !slices.Contains(pool, txid) {
			t.Fatalf("RawMempool = %v, %v; want it to hold %s", pool, err, txid)
		}
		tx, err := c.Transaction(ctx, txid)
		if err != nil {
			t.Fatal(err)
		}
		if !tx.RBF || tx.From != wallet.MiningAddress() {
			t.Errorf("RBF, From = %v, %q; want true, %q", tx.RBF, tx.From, wallet.MiningAddress())
		}
		if !slices.ContainsFunc(tx.Outputs, func(o chain.Output) bool {
			return o.Key == keyOf(t, to) && o.Amount.Int64() == 50_000
		}) {
			t.Errorf("Outputs %+v lack 50000 sat to %s", tx.Outputs, to)
		}
		spends, err := c.MempoolSpends(ctx, tx.Spends)
		if err != nil {
			t.Fatalf("MempoolSpends: %v", err)
		}
		for _, op := range tx.Spends {
			if spends[op] != txid {
				t.Errorf("MempoolSpends[%v] = %q, want %s", op, spends[op], txid)
			}
		}
		waitFor(t, notes, "txaccepted "+txid, func(n Notification) bool { return n.Kind == TxAccepted && n.TxID == txid })
	})

	t.Run("node-side errors", func(t *testing.T) {
		var re *RPCError
		if _, err := c.SendRawTransaction(ctx, raw); !errors.As(err, &re) {
			t.Errorf("resending a mempool tx: err = %v, want *RPCError", err)
		}
		if _, err := c.BlockHash(ctx, 10_000); !errors.As(err, &re) {
			t.Errorf("BlockHash above tip: err = %v, want *RPCError", err)
		}
		if _, err := c.RawTransaction(ctx, hashA); !errors.As(err, &re) {
			t.Errorf("unknown txid: err = %v, want *RPCError", err)
		}
		fee, err := c.EstimateFee(ctx, 6)
		if err != nil || !fee.Fallback || fee.SatPerKVB != DefaultFallbackFeeRate {
			t.Errorf("EstimateFee = %+v, %v; want the fallback", fee, err)
		}
		bad, _ := New(Config{URL: node.RPCURL(), User: node.RPCUser(), Password: "wrong", Params: regtest.Params})
		var te *TransportError
		if _, err := bad.BlockCount(ctx); !errors.As(err, &te) || te.Status != 401 {
			t.Errorf("wrong password: err = %v, want HTTP 401 TransportError", err)
		}
		if _, err := bad.Subscribe(ctx); !errors.As(err, &te) || te.Status != 401 {
			t.Errorf("wrong password websocket: err = %v, want HTTP 401 TransportError", err)
		}
	})

	t.Run("mined payment kept by the filter", func(t *testing.T) {
		mined, err := node.Mine(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := c.Block(ctx, 102, mined[0], watch{keyOf(t, to): {}})
		if err != nil {
			t.Fatal(err)
		}
		if len(blk.Txs) != 1 || blk.Txs[0].ID != txid {
			t.Fatalf("kept %+v, want only %s", blk.Txs, txid)
		}
		if pool, err := c.RawMempool(ctx); err != nil || len(pool) != 0 {
			t.Errorf("RawMempool after mining = %v, %v; want empty", pool, err)
		}
	})

	t.Run("channel closes when the context ends", func(t *testing.T) {
		stopSub()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case _, ok := <-notes:
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("channel still open after cancel")
			}
		}
	})
}
