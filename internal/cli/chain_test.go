package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// TestChainRescanAfterANodeChange: a gateway whose stored chain is not
// the node's (the node was replaced by one that has never seen those
// blocks) waits and sees nothing, even a payment mined meanwhile. `chain
// rescan --from` the payment's block, audited and refused while a gateway
// holds the watcher's lease, makes the next pass find it; `chain reset`
// moves the position to the node's tip.
func TestChainRescanAfterANodeChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	btcd, err := regtest.BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := regtest.NewWallet([]byte("cryptopay chain rescan test seed"), regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	node, err := regtest.Start(ctx, regtest.Options{Dir: t.TempDir(), BtcdPath: btcd, MiningAddress: wallet.MiningAddress()})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	if _, err := node.Mine(ctx, 101); err != nil {
		t.Fatal(err)
	}
	if err := wallet.Sync(ctx, node); err != nil {
		t.Fatal(err)
	}
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR":             t.TempDir(),
		"CRYPTOPAY_LOG_LEVEL":            "error",
		"CRYPTOPAY_BITCOIN_NETWORK":      "bitcoin-regtest",
		"CRYPTOPAY_BITCOIN_RPC_URL":      node.RPCURL(),
		"CRYPTOPAY_BITCOIN_RPC_USER":     node.RPCUser(),
		"CRYPTOPAY_BITCOIN_RPC_PASSWORD": node.RPCPassword(),
	}}
	e.must("migrate")
	env := Env{Getenv: func(k string) string { return e.vars[k] }}
	a, err := open(ctx, env, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inv := createTestInvoice(t, a, createRegtestStore(t, a).ID)

	// The stored chain is one this node never had: 50 blocks past its tip.
	const net = cryptopay.NetworkBitcoinRegtest
	ghost := chain.BlockRef{Height: 151, Hash: strings.Repeat("ab", 32)}
	snap, err := watcher.RestartSnapshot(ghost)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.db.InTx(ctx, func(tx storage.Tx) error {
		return tx.PutChainState(ctx, &storage.ChainState{Network: net, Height: ghost.Height, Hash: ghost.Hash, Snapshot: snap, UpdatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	step := func() error {
		w, err := a.bitcoinWatcher(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return w.Step(ctx)
	}
	if _, _, err := wallet.Pay(ctx, node, inv.Address, 100_000, regtest.Opts{}); err != nil {
		t.Fatal(err)
	}
	blocks, err := node.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	payHeight := int64(102)
	if err := step(); !errors.As(err, new(*watcher.NodeBehindError)) {
		t.Fatalf("pass over a chain the node never had: %v, want node behind", err)
	}
	if got, _ := a.db.GetInvoice(ctx, inv.ID); len(got.Payments) != 0 {
		t.Fatalf("payment seen before the rescan: %+v", got.Payments)
	}

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no reason", []string{"chain", "rescan", "--from", "102"}, 1, "reason"},
		{"above the tip", []string{"chain", "rescan", "--from", "500", "--reason", "x"}, 1, "above the node's tip 102"},
		{"no height", []string{"chain", "rescan", "--reason", "x"}, 2, "--from HEIGHT"},
	}
	for _, tc := range cases {
		if code, _, errs := e.run(tc.args...); code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tc.name, code, errs, tc.code, tc.want)
		}
	}

	// While a gateway holds the watcher's lease the command refuses.
	lease := storage.LeaseName(net)
	epoch, err := a.db.AcquireLease(ctx, lease, "gateway-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := e.run("chain", "rescan", "--from", "102", "--reason", "node replaced"); code != 1 || !strings.Contains(errs, "gateway-1 holds its lease") {
		t.Fatalf("rescan under a held lease: exit %d, %q", code, errs)
	}
	if err := a.db.ReleaseLease(ctx, lease, "gateway-1", epoch); err != nil {
		t.Fatal(err)
	}

	out := e.must("chain", "rescan", "--from", "102", "--reason", "node replaced")
	if !strings.Contains(out, "blocks 102 to 102") {
		t.Errorf("rescan said: %s", out)
	}
	if err := step(); err != nil {
		t.Fatalf("pass after the rescan: %v", err)
	}
	got, err := a.db.GetInvoice(ctx, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Payments) != 1 || got.Payments[0].BlockHash != blocks[0] || got.Payments[0].BlockHeight != payHeight || got.Status != cryptopay.StatusProcessing {
		t.Fatalf("after the rescan: status %s, payments %+v", got.Status, got.Payments)
	}
	if audit := e.must("audit", "list"); !strings.Contains(audit, "chain.rescan") {
		t.Errorf("no chain.rescan in the audit log:\n%s", audit)
	}

	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	e.must("chain", "reset", "--reason", "start over at the tip")
	if st := e.must("chain", "status"); !strings.Contains(st, "processed up to height 104") {
		t.Errorf("status after reset: %s", st)
	}
}
