package devnet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
)

func startNet(t *testing.T) (context.Context, *Net) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	seed := make([]byte, 32)
	seed[0] = 7
	n, err := Start(ctx, Options{Dir: t.TempDir(), Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	return ctx, n
}

// receiver is an address the dev wallet does not own.
func receiver(t *testing.T) string {
	t.Helper()
	w, err := regtest.NewWallet([]byte("another wallet, not the dev one"), regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	a, err := w.Address(0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// onMainChain reports whether hash is one of the main node's last 30
// best-chain blocks (btcd will not describe a block off its best chain).
func onMainChain(t *testing.T, ctx context.Context, n *Net, hash string) bool {
	t.Helper()
	tip, err := n.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for h := tip; h > tip-30; h-- {
		got, err := n.Main().BlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if got == hash {
			return true
		}
	}
	return false
}

func txInBlock(t *testing.T, ctx context.Context, n *Net, block, txid string) bool {
	t.Helper()
	b, err := n.Main().Block(ctx, block)
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

// TestSandboxChain drives the operations a developer uses and checks what
// the gateway's node ends up with: a funded wallet, mined payments, a
// reorganisation that really replaces blocks, and a double spend whose
// conflict is on the main chain while the payment is nowhere.
func TestSandboxChain(t *testing.T) {
	ctx, n := startNet(t)
	if h, _ := n.Height(ctx); h != DefaultFundBlocks {
		t.Fatalf("height after start = %d, want %d", h, DefaultFundBlocks)
	}
	if bal, err := n.Balance(ctx); err != nil || bal != 51*50e8 {
		t.Fatalf("spendable after start = %d (%v), want 51 mature coinbases", bal, err)
	}
	if !strings.HasPrefix(n.AccountKey(), "vpub") {
		t.Fatalf("account key %q is not a vpub", n.AccountKey())
	}
	to := receiver(t)

	t.Run("pay and confirm", func(t *testing.T) {
		var observed []int
		res, err := n.Pay(ctx, to, 150_000, PayOptions{Confirm: 2, Observed: func(_ context.Context, _ string, c int) error {
			observed = append(observed, c)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Blocks) != 2 || !txInBlock(t, ctx, n, res.Blocks[0], res.TxID) {
			t.Fatalf("payment %s not in the first of the blocks mined: %+v", res.TxID, res)
		}
		if len(observed) != 2 || observed[0] != 0 || observed[1] != 2 {
			t.Errorf("Observed called with %v, want [0 2]", observed)
		}
	})

	t.Run("reorg", func(t *testing.T) {
		before, _ := n.Height(ctx)
		res, err := n.Reorg(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Orphaned) != 3 || len(res.Mined) != 4 || res.Height != before+1 {
			t.Fatalf("reorg 3 at height %d: %+v", before, res)
		}
		for _, h := range res.Orphaned {
			if onMainChain(t, ctx, n, h) {
				t.Errorf("orphaned block %s still on the main chain", h)
			}
		}
		if tip, _ := n.Main().BestBlockHash(ctx); tip != res.Mined[3] {
			t.Errorf("main tip %s, want the new branch's %s", tip, res.Mined[3])
		}
	})

	for _, confirm := range []int{0, 2} {
		t.Run("double spend confirm "+string(rune('0'+confirm)), func(t *testing.T) {
			res, err := n.Pay(ctx, to, 200_000, PayOptions{DoubleSpend: true, RBF: confirm == 0, Confirm: confirm})
			if err != nil {
				t.Fatal(err)
			}
			if res.ConflictTxID == "" || !onMainChain(t, ctx, n, res.ConflictBlock) || !txInBlock(t, ctx, n, res.ConflictBlock, res.ConflictTxID) {
				t.Fatalf("conflict not on the main chain: %+v", res)
			}
			for _, b := range res.Blocks {
				if onMainChain(t, ctx, n, b) {
					t.Errorf("block %s confirming the double-spent payment is still on the main chain", b)
				}
			}
			// btcd may keep the orphaned payment in its mempool after the
			// reorg, though its inputs are spent; it must never be mined.
			next, err := n.Mine(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if txInBlock(t, ctx, n, next[0], res.TxID) {
				t.Error("the double-spent payment was mined after all")
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		h, _ := n.Height(ctx)
		if _, err := n.Reorg(ctx, 0); err == nil {
			t.Error("Reorg(0) succeeded")
		}
		if _, err := n.Reorg(ctx, int(h)+1); err == nil {
			t.Error("Reorg deeper than the chain succeeded")
		}
		if _, err := n.Pay(ctx, to, 1000, PayOptions{Confirm: -1}); err == nil {
			t.Error("Pay with Confirm -1 succeeded")
		}
		if _, err := n.Pay(ctx, to, 1e15, PayOptions{}); !errors.Is(err, regtest.ErrInsufficientFunds) {
			t.Errorf("Pay more than the wallet holds: %v, want ErrInsufficientFunds", err)
		}
		if _, err := n.Pay(ctx, "bc1qnotregtest", 1000, PayOptions{}); err == nil {
			t.Error("Pay to a non-regtest address succeeded")
		}
	})
}

func TestStartRefuses(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{Seed: make([]byte, 32)}, "Dir is required"},
		{"short seed", Options{Dir: t.TempDir(), Seed: make([]byte, 8)}, "seed"},
		{"too few blocks", Options{Dir: t.TempDir(), Seed: make([]byte, 32), FundBlocks: 50}, "at least 101"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Start(ctx, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("ReadState on an empty folder: %v, want ErrNotRunning", err)
	}
	want := State{PID: 42, Control: "http://127.0.0.1:5555", ControlToken: strings.Repeat("ab", 32), API: "http://127.0.0.1:8080",
		Nodes: []NodeState{{Name: "main", PID: 43, RPCURL: "http://127.0.0.1:1", RPCUser: "u", RPCPassword: "p"}}}
	if err := WriteState(dir, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v (%v), want 0600", fi.Mode(), err)
	}
	got, err := ReadState(dir)
	if err != nil || got.PID != 42 || got.Nodes[0].RPCPassword != "p" || got.ControlToken != want.ControlToken {
		t.Fatalf("read back %+v (%v)", got, err)
	}
	if err := RemoveState(dir); err != nil {
		t.Fatal(err)
	}
	if err := RemoveState(dir); err != nil {
		t.Errorf("second RemoveState: %v", err)
	}
}

func TestParseState(t *testing.T) {
	token := strings.Repeat("ab", 32)
	cases := []struct {
		name, json, wantErr string
	}{
		{"valid", `{"pid":1,"control":"http://127.0.0.1:9","control_token":"` + token + `"}`, ""},
		{"not json", `pid=1`, "state file"},
		{"remote control host", `{"control":"http://example.com:9","control_token":"` + token + `"}`, "not http://127.0.0.1"},
		{"https", `{"control":"https://127.0.0.1:9","control_token":"` + token + `"}`, "not http://127.0.0.1"},
		{"no port", `{"control":"http://127.0.0.1","control_token":"` + token + `"}`, "not http://127.0.0.1"},
		{"with path", `{"control":"http://127.0.0.1:9/x","control_token":"` + token + `"}`, "not http://127.0.0.1"},
		{"short token", `{"control":"http://127.0.0.1:9","control_token":"abc"}`, "token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseState([]byte(tc.json))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestSeed(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadSeed(dir)
	if err != nil || len(first) != 32 {
		t.Fatalf("first LoadSeed: %x, %v", first, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, SeedFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("seed file mode %v, want 0600", fi.Mode())
	}
	again, err := LoadSeed(dir)
	if err != nil || string(again) != string(first) {
		t.Fatalf("the seed changed between runs: %x then %x (%v)", first, again, err)
	}
	if err := os.WriteFile(filepath.Join(dir, SeedFile), []byte("not hex"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSeed(dir); err == nil {
		t.Error("LoadSeed accepted a corrupt seed file")
	}
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"32 bytes with newline", strings.Repeat("0f", 32) + "\n", true},
		{"16 bytes", strings.Repeat("0f", 16), true},
		{"64 bytes", strings.Repeat("0f", 64), true},
		{"15 bytes", strings.Repeat("0f", 15), false},
		{"65 bytes", strings.Repeat("0f", 65), false},
		{"odd digits", "abc", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseSeed([]byte(tc.in)); (err == nil) != tc.ok {
				t.Errorf("ParseSeed(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"pid":1,"control":"http://127.0.0.1:9","control_token":"` + strings.Repeat("ab", 32) + `"}`))
	f.Add([]byte(`{"control":"http://127.0.0.1:9@evil:1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseState(b)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s.Control, "http://127.0.0.1:") || len(s.ControlToken) < 32 {
			t.Fatalf("accepted control %q token %q", s.Control, s.ControlToken)
		}
	})
}

func FuzzParseSeed(f *testing.F) {
	f.Add([]byte(strings.Repeat("0f", 32)))
	f.Add([]byte(" 00 "))
	f.Fuzz(func(t *testing.T, b []byte) {
		seed, err := ParseSeed(b)
		if err == nil && (len(seed) < 16 || len(seed) > 64) {
			t.Fatalf("accepted a %d-byte seed", len(seed))
		}
	})
}
