package regtest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var btcdPath = sync.OnceValues(func() (string, error) { return BtcdPath(context.Background()) })

// testContext bounds one test's chain work so a stuck node fails the test
// instead of hanging the suite.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startNode starts a node in a fresh temp dir and stops it at cleanup.
func startNode(t *testing.T, ctx context.Context, miningAddr string) *Node {
	t.Helper()
	bin, err := btcdPath()
	if err != nil {
		t.Fatalf("locate btcd: %v", err)
	}
	start := time.Now()
	n, err := Start(ctx, Options{Dir: t.TempDir(), BtcdPath: bin, MiningAddress: miningAddr})
	if err != nil {
		t.Fatalf("start btcd: %v", err)
	}
	t.Logf("btcd ready after %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return n
}

func TestStartStopLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	n := startNode(t, ctx, "")

	if got := n.RPCURL(); !strings.HasPrefix(got, "http://127.0.0.1:") {
		t.Errorf("RPCURL = %q, want loopback http", got)
	}
	if got := n.WebsocketURL(); got != "ws://"+n.RPCHost()+"/ws" {
		t.Errorf("WebsocketURL = %q", got)
	}
	if !strings.HasPrefix(n.P2PAddr(), "127.0.0.1:") {
		t.Errorf("P2PAddr = %q, want loopback", n.P2PAddr())
	}
	if h, err := n.BlockCount(ctx); err != nil || h != 0 {
		t.Fatalf("fresh node height = %d, %v; want 0", h, err)
	}
	for _, p := range []string{"data/regtest", "logs/regtest/btcd.log"} {
		if _, err := os.Stat(filepath.Join(n.Dir(), p)); err != nil {
			t.Errorf("btcd did not write %s inside Dir: %v", p, err)
		}
	}

	pid := n.Pid()
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if processAlive(pid) {
		t.Errorf("btcd pid %d still running after Stop", pid)
	}
	if _, err := n.BlockCount(ctx); err == nil {
		t.Error("RPC still answers after Stop")
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	bin, err := btcdPath()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{BtcdPath: bin}, "Dir is required"},
		{"mainnet mining address", Options{Dir: dir, BtcdPath: bin, MiningAddress: "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"}, "not a regtest address"},
		{"garbage mining address", Options{Dir: dir, BtcdPath: bin, MiningAddress: "nope"}, "not a regtest address"},
		{"missing binary", Options{Dir: dir, BtcdPath: filepath.Join(dir, "no-such-btcd")}, "start btcd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Start(ctx, tc.opts)
			if err == nil {
				n.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestBtcdPathHonoursEnv(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "btcd")
	t.Setenv(BtcdPathEnv, missing)
	if _, err := BtcdPath(t.Context()); err == nil {
		t.Errorf("BtcdPath with %s pointing at a missing file succeeded", BtcdPathEnv)
	}
	if err := os.WriteFile(missing, nil, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := BtcdPath(t.Context()); err != nil || got != missing {
		t.Errorf("BtcdPath = %q, %v; want %q", got, err, missing)
	}
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	n := startNode(t, ctx, "")

	var rpcErr *RPCError
	err := n.Call(ctx, "getblockhash", []any{5}, new(string))
	if !errors.As(err, &rpcErr) {
		t.Errorf("getblockhash beyond tip: error %v is not an *RPCError", err)
	}
	err = n.Call(ctx, "nosuchmethod", nil, nil)
	if !errors.As(err, &rpcErr) {
		t.Errorf("unknown method: error %v is not an *RPCError", err)
	}

	bad := &Node{rpcAddr: n.rpcAddr, user: n.user, password: "wrong", client: &http.Client{}}
	err = bad.Call(ctx, "getblockcount", nil, new(int64))
	if err == nil || errors.As(err, &rpcErr) || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong password: error %v, want an HTTP 401 transport error", err)
	}
}

func TestMineInvalidateReconsider(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	n := startNode(t, ctx, "")

	if _, err := n.Mine(ctx, 0); err == nil {
		t.Error("Mine(0) succeeded")
	}
	hashes, err := n.Mine(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if best, _ := n.BestBlockHash(ctx); best != hashes[2] {
		t.Fatalf("best = %s, want last mined %s", best, hashes[2])
	}
	if err := n.InvalidateBlock(ctx, hashes[1]); err != nil {
		t.Fatal(err)
	}
	if h, _ := n.BlockCount(ctx); h != 1 {
		t.Errorf("height after invalidating block 2 = %d, want 1", h)
	}
	if err := n.ReconsiderBlock(ctx, hashes[1]); err != nil {
		t.Fatal(err)
	}
	if best, _ := n.BestBlockHash(ctx); best != hashes[2] {
		t.Errorf("best after reconsider = %s, want %s", best, hashes[2])
	}
}

func TestDecodeResponse(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		want    int64
		wantErr string
	}{
		{"result", 200, `{"result":7,"error":null,"id":1}`, 7, ""},
		{"rpc error", 200, `{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}`, 0, "rpc error -5"},
		{"rpc error with 500", 500, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}`, 0, "-32601"},
		{"plain 401", 401, "401 Unauthorized.\n", 0, "http status 401"},
		{"no result", 200, `{"error":null,"id":1}`, 0, "no result"},
		{"wrong type", 200, `{"result":"seven","error":null}`, 0, "decode result"},
		{"not json", 200, `<html>`, 0, "decode response"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got int64
			err := decodeResponse(tc.status, []byte(tc.body), &got)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("got %d, %v; want %d", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, []byte(`{"result":["a","b"],"error":null,"id":1}`))
	f.Add(500, []byte(`{"error":{"code":-1,"message":"x"}}`))
	f.Add(401, []byte("Unauthorized"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var out []string
		err := decodeResponse(status, body, &out)
		var rpcErr *RPCError
		if errors.As(err, &rpcErr) && rpcErr == nil {
			t.Fatal("nil *RPCError returned as an error")
		}
		if err == nil && status != http.StatusOK {
			t.Fatalf("status %d accepted as success", status)
		}
	})
}
