package btcrpc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc/coretest"
	"github.com/cryptopay/cryptopay/internal/chain"
)

// The recordings' regtest genesis block, its coinbase and a spender.
const (
	coreGenesis = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
	coreTxID    = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
	coreSpender = "b6a9e2c8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c"
)

func coreClient(t *testing.T, srv *coretest.Server, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: srv.URL, User: "gateway", Password: "pw", Params: &chaincfg.RegressionNetParams}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBitcoinCoreCalls makes every call the gateway makes against the
// recorded answers of Bitcoin Core 26, 28 and 29, with the parameters the
// recordings hold (getblock verbosity 0, getrawtransaction non-verbose),
// and checks what the client makes of them.
func TestBitcoinCoreCalls(t *testing.T) {
	for _, v := range coretest.Versions {
		t.Run(fmt.Sprintf("core %d", v), func(t *testing.T) {
			srv := coretest.NewServer(t, v)
			c := coreClient(t, srv, nil)
			ctx := context.Background()
			steps := []struct {
				name string
				run  func() error
			}{
				{"getblockchaininfo", func() error {
					info, err := c.ChainInfo(ctx)
					if err == nil && (info.Chain != "regtest" || info.BestBlockHash != coreGenesis || info.InitialBlockDownload || info.Pruned) {
						err = fmt.Errorf("got %+v", info)
					}
					return err
				}},
				{"network check", func() error { return c.CheckNetwork(ctx) }},
				{"getblockcount", func() error {
					n, err := c.BlockCount(ctx)
					if err == nil && n != 0 {
						err = fmt.Errorf("count %d", n)
					}
					return err
				}},
				{"getbestblockhash", func() error {
					h, err := c.BestBlockHash(ctx)
					if err == nil && h != coreGenesis {
						err = fmt.Errorf("hash %s", h)
					}
					return err
				}},
				{"getblockhash", func() error {
					h, err := c.BlockHash(ctx, 0)
					if err == nil && h != coreGenesis {
						err = fmt.Errorf("hash %s", h)
					}
					return err
				}},
				{"getblockheader", func() error {
					h, err := c.BlockHeader(ctx, coreGenesis)
					if err == nil && (h.Height != 0 || h.Prev != "" || h.Time != 1296688602) {
						err = fmt.Errorf("header %+v", h)
					}
					return err
				}},
				{"getblock verbosity 0, parsed", func() error {
					b, err := c.Block(ctx, 0, coreGenesis, nil)
					if err == nil && (b.Hash != coreGenesis || len(b.Txs) != 1 || b.Txs[0].ID != coreTxID) {
						err = fmt.Errorf("block %s with %d txs", b.Hash, len(b.Txs))
					}
					return err
				}},
				{"getrawmempool", func() error {
					ids, err := c.RawMempool(ctx)
					if err == nil && !slices.Equal(ids, []string{coreSpender}) {
						err = fmt.Errorf("mempool %v", ids)
					}
					return err
				}},
				{"getrawtransaction", func() error {
					tx, err := c.Transaction(ctx, coreTxID)
					if err == nil && tx.ID != coreTxID {
						err = fmt.Errorf("tx %s", tx.ID)
					}
					return err
				}},
				{"sendrawtransaction", func() error {
					raw, _ := c.RawTransaction(ctx, coreTxID)
					id, err := c.SendRawTransaction(ctx, raw)
					if err == nil && id != coreTxID {
						err = fmt.Errorf("txid %s", id)
					}
					return err
				}},
				{"estimatesmartfee without data falls back", func() error {
					f, err := c.EstimateFee(ctx, 2)
					if err == nil && (!f.Fallback || f.SatPerKVB != DefaultFallbackFeeRate) {
						err = fmt.Errorf("fee %+v", f)
					}
					return err
				}},
				{"gettxspendingprevout", func() error {
					m, err := c.MempoolSpends(ctx, []chain.Outpoint{{TxID: coreTxID, Index: 0}})
					if err == nil && m[chain.Outpoint{TxID: coreTxID, Index: 0}] != coreSpender {
						err = fmt.Errorf("spends %v", m)
					}
					return err
				}},
				{"getmempoolinfo", func() error {
					mp, err := c.MempoolInfo(ctx)
					if err == nil && (!mp.Loaded || mp.Size != 1 || mp.FullRBF != (v >= 28)) {
						err = fmt.Errorf("mempool info %+v", mp)
					}
					return err
				}},
				{"getpeerinfo", func() error {
					n, best, err := c.PeerHeights(ctx)
					if err == nil && (n != 1 || best != 0) {
						err = fmt.Errorf("%d peers, best %d", n, best)
					}
					return err
				}},
			}
			for _, s := range steps {
				if err := s.run(); err != nil {
					t.Errorf("%s: %v", s.name, err)
				}
			}
		})
	}
}

// TestBitcoinCoreErrorShapes: what the client makes of Core's errors: a
// node warming up, a block pruned away, an unknown transaction, a height
// past the tip, a node running without its wallet, a syncing or pruned
// chain, a mempool still loading.
func TestBitcoinCoreErrorShapes(t *testing.T) {
	for _, v := range coretest.Versions {
		t.Run(fmt.Sprintf("core %d", v), func(t *testing.T) {
			srv := coretest.NewServer(t, v)
			c := coreClient(t, srv, nil)
			ctx := context.Background()
			rpcCode := func(err error) int {
				var e *RPCError
				if errors.As(err, &e) {
					return e.Code
				}
				return 0
			}
			cases := []struct {
				name, method, use string
				call              func() error
				check             func(error) bool
			}{
				{"warming up", "getblockchaininfo", "error warming up", func() error { _, err := c.ChainInfo(ctx); return err },
					func(err error) bool { return IsWarmingUp(err) && strings.Contains(err.Error(), "Loading block index") }},
				{"verifying blocks", "getbestblockhash", "error verifying blocks", func() error { _, err := c.BestBlockHash(ctx); return err },
					func(err error) bool { return IsWarmingUp(err) }},
				{"pruned block", "getblock", "error pruned block", func() error { _, err := c.Block(ctx, 0, coreGenesis, nil); return err },
					func(err error) bool { return rpcCode(err) == CodeMisc && strings.Contains(err.Error(), "pruned data") }},
				{"unknown transaction", "getrawtransaction", "error unknown transaction", func() error { _, err := c.Transaction(ctx, coreTxID); return err },
					func(err error) bool { return rpcCode(err) == -5 }},
				{"height out of range", "getblockhash", "error height out of range", func() error { _, err := c.BlockHash(ctx, 0); return err },
					func(err error) bool { return rpcCode(err) == -8 }},
				{"wallet disabled: method not found", "getwalletinfo", "error wallet disabled", func() error {
					var out any
					return unsupported(c.call(ctx, "getwalletinfo", nil, &out))
				}, func(err error) bool { return errors.Is(err, ErrUnsupported) }},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					srv.Use(tc.method, tc.use)
					defer srv.Use(tc.method, "")
					if err := tc.call(); err == nil || !tc.check(err) {
						t.Fatalf("got %v", err)
					}
				})
			}

			srv.Use("getblockchaininfo", "getblockchaininfo pruned")
			info, err := c.ChainInfo(ctx)
			if err != nil || !info.Pruned {
				t.Errorf("pruned node: %+v %v", info, err)
			}
			srv.Use("getblockchaininfo", "getblockchaininfo initial block download")
			info, err = c.ChainInfo(ctx)
			if err != nil || !info.InitialBlockDownload || info.Headers != 850000 {
				t.Errorf("syncing node: %+v %v", info, err)
			}
			srv.Use("getblockchaininfo", "")
			srv.Use("getmempoolinfo", "getmempoolinfo loading")
			if mp, err := c.MempoolInfo(ctx); err != nil || mp.Loaded {
				t.Errorf("loading mempool: %+v %v", mp, err)
			}
		})
	}
}

// TestBitcoinCoreAuthentication: the cookie file Core writes (re-read on
// every call, since Core writes a new one at each start) and rpcauth
// credentials (a user and password; the salted hash is Core's side).
func TestBitcoinCoreAuthentication(t *testing.T) {
	srv := coretest.NewServer(t, 29)
	var want [2]string
	srv.Auth = func(u, p string) bool { return u == want[0] && p == want[1] }
	ctx := context.Background()

	cookie := filepath.Join(t.TempDir(), ".cookie")
	writeCookie := func() {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(len(want[1]) + i)
		}
		want = [2]string{"__cookie__", hex.EncodeToString(b)}
		if err := os.WriteFile(cookie, []byte(want[0]+":"+want[1]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCookie()
	c := coreClient(t, srv, func(cfg *Config) { cfg.User, cfg.Password, cfg.CookieFile = "", "", cookie })
	if _, err := c.BlockCount(ctx); err != nil {
		t.Fatalf("cookie: %v", err)
	}
	writeCookie() // the node restarted
	if _, err := c.BlockCount(ctx); err != nil {
		t.Fatalf("cookie after the node rewrote it: %v", err)
	}

	want = [2]string{"cryptopay", "rpcauth-password"}
	good := coreClient(t, srv, func(cfg *Config) { cfg.User, cfg.Password = "cryptopay", "rpcauth-password" })
	if _, err := good.BlockCount(ctx); err != nil {
		t.Fatalf("rpcauth user: %v", err)
	}
	bad := coreClient(t, srv, func(cfg *Config) { cfg.User, cfg.Password = "cryptopay", "wrong" })
	var te *TransportError
	if _, err := bad.BlockCount(ctx); !errors.As(err, &te) || te.Status != 401 || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestRPCErrorsReported: every failed call reaches Config.OnError with its
// method and kind (the metrics' RPC errors by method).
func TestRPCErrorsReported(t *testing.T) {
	srv := coretest.NewServer(t, 28)
	var got []string
	c := coreClient(t, srv, func(cfg *Config) { cfg.OnError = func(m, k string) { got = append(got, m+" "+k) } })
	srv.Use("getblockchaininfo", "error warming up")
	_, _ = c.ChainInfo(context.Background())
	_, _ = c.BlockCount(context.Background()) // succeeds: not reported
	srv.Auth = func(string, string) bool { return false }
	_, _ = c.BestBlockHash(context.Background())
	if want := []string{"getblockchaininfo node", "getbestblockhash transport"}; !slices.Equal(got, want) {
		t.Errorf("reported %q, want %q", got, want)
	}
}
