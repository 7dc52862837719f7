package regtest

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
)

func mustHash(t *testing.T, s string) chainhash.Hash {
	t.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		t.Fatal(err)
	}
	return *h
}

func blockHasTx(t *testing.T, n *Node, blockHash, txid string) bool {
	t.Helper()
	b, err := n.Block(context.Background(), blockHash)
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range b.Transactions {
		if tx.TxHash().String() == txid {
			return true
		}
	}
	return false
}

func mine(t *testing.T, ctx context.Context, n *Node, count int) []string {
	t.Helper()
	hashes, err := n.Mine(ctx, count)
	if err != nil {
		t.Fatal(err)
	}
	return hashes
}

// startPair starts two connected nodes that share a chain of height
// blocks: a mines to the wallet, b to a burn address.
func startPair(t *testing.T, ctx context.Context, w *Wallet, height int) (a, b *Node) {
	t.Helper()
	a = startNode(t, ctx, w.MiningAddress())
	b = startNode(t, ctx, "")
	if err := a.Connect(ctx, b); err != nil {
		t.Fatal(err)
	}
	mine(t, ctx, a, height)
	if _, err := WaitSameTip(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestCompetingChainsReorg(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	w := newTestWallet(t, 1)
	a, b := startPair(t, ctx, w, 5)

	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	short := mine(t, ctx, a, 2) // heights 6-7, paying the wallet
	if err := w.Sync(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.Balance(); got != 7*coin {
		t.Fatalf("wallet before reorg = %d, want %d", got, 7*coin)
	}
	long := mine(t, ctx, b, 3) // heights 6-8
	if tip, _ := b.BestBlockHash(ctx); tip != long[2] {
		t.Fatalf("b's tip %s is not its own block %s: still connected?", tip, long[2])
	}

	if err := b.Connect(ctx, a); err != nil {
		t.Fatal(err)
	}
	tip, err := WaitSameTip(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if tip != long[2] {
		t.Fatalf("shared tip = %s, want the longer branch's %s", tip, long[2])
	}
	for i, h := range short {
		got, err := a.BlockHash(ctx, int64(6+i))
		if err != nil {
			t.Fatal(err)
		}
		if got == h {
			t.Errorf("shorter branch block %s still on a's best chain at height %d", h, 6+i)
		}
		if got != long[i] {
			t.Errorf("a's block at height %d = %s, want %s", 6+i, got, long[i])
		}
	}
	// The wallet rolls the orphaned coinbases back.
	if err := w.Sync(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.Balance(); got != 5*coin {
		t.Errorf("wallet after reorg = %d, want %d", got, 5*coin)
	}
}

func TestDoubleSpendMinedOnOtherNode(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	w, shop, thief := newTestWallet(t, 1), newTestWallet(t, 2), newTestWallet(t, 3)
	a, b := startPair(t, ctx, w, 101)
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}

	const price = 70_000
	orig, _, err := w.Pay(ctx, a, mustAddress(t, shop, 0), price, Opts{})
	if err != nil {
		t.Fatal(err)
	}
	ds, block, err := w.DoubleSpend(ctx, b, orig, mustAddress(t, thief, 0), price, Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if ds == orig {
		t.Fatal("double spend has the original's txid")
	}
	if in, _ := a.InMempool(ctx, orig); !in {
		t.Fatal("original not in a's mempool before reconnecting")
	}

	if err := a.Connect(ctx, b); err != nil {
		t.Fatal(err)
	}
	if tip, err := WaitSameTip(ctx, a, b); err != nil || tip != block {
		t.Fatalf("shared tip = %s, %v; want the double spend's block %s", tip, err, block)
	}
	if err := a.WaitMempool(ctx, orig, false); err != nil {
		t.Fatal(err)
	}
	var rawHex string
	if err := a.Call(ctx, "getrawtransaction", []any{orig, 0}, &rawHex); err == nil {
		t.Error("a still knows the double-spent original")
	}
	for _, tc := range []struct {
		name string
		w    *Wallet
		want int64
	}{{"shop", shop, 0}, {"thief", thief, price}} {
		if err := tc.w.Sync(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got, _ := tc.w.Balance(); got != tc.want {
			t.Errorf("%s balance = %d, want %d", tc.name, got, tc.want)
		}
	}
	if _, _, err := w.DoubleSpend(ctx, b, "zz", mustAddress(t, thief, 1), price, Opts{}); err == nil {
		t.Error("DoubleSpend accepted a malformed txid")
	}
}
