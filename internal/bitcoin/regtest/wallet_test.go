package regtest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

const coin = 50 * 100_000_000 // regtest block subsidy below height 150

// newTestWallet makes a regtest wallet from a seed of 32 copies of b.
func newTestWallet(t *testing.T, b byte) *Wallet {
	t.Helper()
	w, err := NewWallet(bytes.Repeat([]byte{b}, 32), Params)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustAddress(t *testing.T, w *Wallet, i uint32) string {
	t.Helper()
	a, err := w.Address(i)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestWalletBIP84Vectors checks derivation against BIP84's published test
// vectors (mnemonic "abandon ... about", no passphrase).
func TestWalletBIP84Vectors(t *testing.T) {
	seed, _ := hex.DecodeString("5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc19a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4")
	w, err := NewWallet(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.AccountPub(), "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"; got != want {
		t.Errorf("AccountPub = %s, want %s", got, want)
	}
	for i, want := range []string{"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"} {
		if got := mustAddress(t, w, uint32(i)); got != want {
			t.Errorf("Address(%d) = %s, want %s", i, got, want)
		}
	}
	if got, want := w.MiningAddress(), "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"; got != want {
		t.Errorf("MiningAddress (m/84'/0'/0'/1/0) = %s, want %s", got, want)
	}
}

func TestWalletRegtestKeys(t *testing.T) {
	w := newTestWallet(t, 1)
	if pub := w.AccountPub(); !strings.HasPrefix(pub, "vpub") {
		t.Errorf("regtest AccountPub = %s, want a vpub", pub)
	}
	if a := mustAddress(t, w, 0); !strings.HasPrefix(a, "bcrt1q") {
		t.Errorf("Address(0) = %s, want bcrt1q…", a)
	}
	if mustAddress(t, w, 0) == w.MiningAddress() {
		t.Error("mining address is a receive address; a gateway watching the vpub would see coinbases as payments")
	}
	if _, err := NewWallet([]byte{1, 2, 3}, Params); err == nil {
		t.Error("NewWallet accepted a 3-byte seed")
	}
}

func TestWalletPayConfirms(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	w, shop := newTestWallet(t, 1), newTestWallet(t, 2)
	n := startNode(t, ctx, w.MiningAddress())

	start := time.Now()
	if _, err := n.Mine(ctx, 101); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(ctx, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("mined and scanned 101 blocks in %v", time.Since(start).Round(time.Millisecond))
	total, spendable := w.Balance()
	if total != 101*coin || spendable != 2*coin {
		t.Fatalf("balance after 101 blocks = %d total, %d spendable; want %d, %d (coinbases of heights 1-2 mature)", total, spendable, 101*coin, 2*coin)
	}

	to := mustAddress(t, shop, 0)
	bad := []struct {
		name string
		to   string
		sats int64
	}{
		{"zero amount", to, 0},
		{"negative amount", to, -1},
		{"mainnet address", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 1000},
		{"garbage address", "not-an-address", 1000},
		{"more than spendable", to, 2*coin + 1},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if txid, _, err := w.Pay(ctx, n, tc.to, tc.sats, Opts{}); err == nil {
				t.Errorf("Pay succeeded with txid %s", txid)
			}
		})
	}
	if _, _, err := w.Pay(ctx, n, to, 2*coin+1, Opts{}); !errors.Is(err, ErrInsufficientFunds) {
		t.Errorf("overspend error = %v, want ErrInsufficientFunds", err)
	}

	const price = 1_234_567
	txid, raw, err := w.Pay(ctx, n, to, price, Opts{FeeRate: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.WaitMempool(ctx, txid, true); err != nil {
		t.Fatal(err)
	}
	if rec := w.sent[mustHash(t, txid)]; rec.fee < 3*rec.vsize {
		t.Errorf("fee %d for %d vB is below the requested 3 sat/vB", rec.fee, rec.vsize)
	}

	hashes, err := n.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !blockHasTx(t, n, hashes[0], txid) {
		t.Fatalf("block %s does not confirm %s", hashes[0], txid)
	}
	if in, _ := n.InMempool(ctx, txid); in {
		t.Error("confirmed tx still in mempool")
	}
	// --txindex: a confirmed, non-wallet transaction is still retrievable.
	var gotHex string
	if err := n.Call(ctx, "getrawtransaction", []any{txid, 0}, &gotHex); err != nil {
		t.Fatalf("getrawtransaction after confirmation: %v", err)
	}
	if gotHex != hex.EncodeToString(raw) {
		t.Error("getrawtransaction returned different bytes than Pay")
	}
	if err := shop.Sync(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got, _ := shop.Balance(); got != price {
		t.Errorf("shop balance = %d, want %d", got, price)
	}
	// The payer also mined the block, so it got the fee back.
	if err := w.Sync(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.Balance(); got != 102*coin-price {
		t.Errorf("payer balance = %d, want %d", got, 102*coin-price)
	}
}

func TestWalletReplaceEvictsOriginal(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	w, shop, thief := newTestWallet(t, 1), newTestWallet(t, 2), newTestWallet(t, 3)
	n := startNode(t, ctx, w.MiningAddress())
	if _, err := n.Mine(ctx, 101); err != nil {
		t.Fatal(err)
	}
	const price = 100_000
	orig, _, err := w.Pay(ctx, n, mustAddress(t, shop, 0), price, Opts{RBF: true})
	if err != nil {
		t.Fatal(err)
	}
	repl, _, err := w.Replace(ctx, n, orig, mustAddress(t, thief, 0), price, Opts{RBF: true})
	if err != nil {
		t.Fatalf("btcd refused the replacement: %v", err)
	}
	if err := n.WaitMempool(ctx, orig, false); err != nil {
		t.Fatal(err)
	}
	if in, _ := n.InMempool(ctx, repl); !in {
		t.Fatal("replacement not in mempool")
	}

	final, _, err := w.Pay(ctx, n, mustAddress(t, shop, 1), price, Opts{RBF: false})
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		txid string
		opts Opts
	}{
		{"original did not signal RBF", final, Opts{}},
		{"lower fee rate than the original", repl, Opts{FeeRate: 1}},
		{"already replaced", orig, Opts{}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			txid, _, err := w.Replace(ctx, n, tc.txid, mustAddress(t, thief, 1), price, tc.opts)
			var rpcErr *RPCError
			if !errors.As(err, &rpcErr) {
				t.Fatalf("Replace = %s, %v; want the node's rejection", txid, err)
			}
		})
	}
	if _, _, err := w.Replace(ctx, n, strings.Repeat("ab", 32), mustAddress(t, thief, 1), price, Opts{}); err == nil {
		t.Error("Replace of a transaction the wallet never sent succeeded")
	}
	for _, id := range []string{repl, final} {
		if in, _ := n.InMempool(ctx, id); !in {
			t.Errorf("%s left the mempool after refused replacements", id)
		}
	}

	if _, err := n.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		w    *Wallet
		want int64
	}{{shop, price}, {thief, price}} {
		if err := tc.w.Sync(ctx, n); err != nil {
			t.Fatal(err)
		}
		if got, _ := tc.w.Balance(); got != tc.want {
			t.Errorf("balance = %d, want %d", got, tc.want)
		}
	}
}
