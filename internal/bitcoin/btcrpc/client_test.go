package btcrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/cryptopay/cryptopay/internal/chain"
)

const (
	testUser = "rpcuser"
	testPass = "s3cret-rpc-pass"
	hashA    = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
)

// reply is what the fake node answers for one call; body may contain
// "{{id}}", replaced by the request id.
type reply struct {
	status int
	body   string
}

// fakeNode answers each JSON-RPC method from a table and rejects other
// credentials with a bare 401, as both nodes do.
func fakeNode(t *testing.T, user, pass string, replies map[string]reply) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req struct {
			ID     uint64 `json:"id"`
			Method string `json:"method"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rep, ok := replies[req.Method]
		if !ok {
			rep = reply{404, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":{{id}}}`}
		}
		if rep.body == "HANG" {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(cmpStatus(rep.status))
		fmt.Fprint(w, strings.ReplaceAll(rep.body, "{{id}}", fmt.Sprint(req.ID)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func cmpStatus(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

func ok(result string) reply {
	return reply{body: `{"result":` + result + `,"error":null,"id":{{id}}}`}
}

func newTestClient(t *testing.T, srvURL string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: srvURL, User: testUser, Password: testPass, Params: &chaincfg.RegressionNetParams}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCallErrors(t *testing.T) {
	var (
		rpcErr  *RPCError
		trErr   *TransportError
		respErr *ResponseError
	)
	isRPC := func(code int) func(error) bool {
		return func(err error) bool { return errors.As(err, &rpcErr) && rpcErr.Code == code }
	}
	isTransport := func(status int) func(error) bool {
		return func(err error) bool { return errors.As(err, &trErr) && trErr.Status == status }
	}
	isResponse := func(err error) bool { return errors.As(err, &respErr) }

	tests := []struct {
		name  string
		rep   reply
		user  string
		check func(error) bool // nil: success expected
	}{
		{"count ok", ok(`101`), testUser, nil},
		{"core-style node error with HTTP 500", reply{500, `{"result":null,"error":{"code":-28,"message":"Loading block index"},"id":{{id}}}`}, testUser, isRPC(-28)},
		{"btcd-style node error with HTTP 200", reply{200, `{"result":null,"error":{"code":-1,"message":"oops"},"id":{{id}}}`}, testUser, isRPC(-1)},
		{"wrong credentials", ok(`1`), "intruder", isTransport(401)},
		{"HTTP 503 without JSON", reply{503, `busy`}, testUser, isTransport(503)},
		{"invalid JSON", reply{200, `{"result":`}, testUser, isResponse},
		{"HTML page", reply{200, `<html>hello</html>`}, testUser, isResponse},
		{"string where number expected", ok(`"101"`), testUser, isResponse},
		{"fractional height", ok(`1.5`), testUser, isResponse},
		{"negative height", ok(`-3`), testUser, isResponse},
		{"null result", ok(`null`), testUser, isResponse},
		{"id mismatch", reply{200, `{"result":5,"error":null,"id":999999}`}, testUser, isResponse},
		{"error object without code", reply{200, `{"result":null,"error":{"message":"x"},"id":{{id}}}`}, testUser, isResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeNode(t, testUser, testPass, map[string]reply{"getblockcount": tc.rep})
			c := newTestClient(t, srv.URL, func(c *Config) { c.User = tc.user })
			n, err := c.BlockCount(context.Background())
			if tc.check == nil {
				if err != nil || n != 101 {
					t.Fatalf("BlockCount = %d, %v; want 101", n, err)
				}
				return
			}
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v (%T), wrong kind", err, err)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestHashValidation(t *testing.T) {
	tests := []struct {
		name   string
		result string
		ok     bool
	}{
		{"valid", `"` + hashA + `"`, true},
		{"short", `"` + hashA[:62] + `"`, false},
		{"uppercase", `"` + strings.ToUpper(hashA) + `"`, false},
		{"not hex", `"` + strings.Repeat("zz", 32) + `"`, false},
		{"number", `12`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeNode(t, testUser, testPass, map[string]reply{
				"getbestblockhash": ok(tc.result),
				"getrawmempool":    ok(`[` + tc.result + `]`),
			})
			c := newTestClient(t, srv.URL, nil)
			_, err := c.BestBlockHash(context.Background())
			_, err2 := c.RawMempool(context.Background())
			for _, e := range []error{err, err2} {
				var re *ResponseError
				if tc.ok && e != nil || !tc.ok && !errors.As(e, &re) {
					t.Errorf("err = %v, want ok=%v", e, tc.ok)
				}
			}
		})
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	srv := fakeNode(t, testUser, testPass, map[string]reply{"getblockcount": {body: "HANG"}})
	c := newTestClient(t, srv.URL, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	_, err := c.BlockCount(context.Background())
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("per-call timeout: err = %v, want TransportError wrapping DeadlineExceeded", err)
	}

	c = newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.BlockCount(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestConnectionRefusedAndURLCredentials(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close() // nothing listens there any more
	c, err := New(Config{URL: "http://" + testUser + ":" + testPass + "@" + addr, Params: &chaincfg.MainNetParams})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.BlockCount(context.Background())
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *TransportError", err)
	}
	if strings.Contains(err.Error(), testPass) {
		t.Errorf("error leaks the password: %v", err)
	}
	if _, err := New(Config{URL: "http://u:" + testPass + "@bad host", Params: &chaincfg.MainNetParams}); err == nil || strings.Contains(err.Error(), testPass) {
		t.Errorf("New with bad URL: err = %v", err)
	}
}

func TestCookieFile(t *testing.T) {
	srv := fakeNode(t, "__cookie__", "c00kie", map[string]reply{"getblockcount": ok(`7`)})
	path := filepath.Join(t.TempDir(), ".cookie")
	c := newTestClient(t, srv.URL, func(c *Config) { c.User, c.Password, c.CookieFile = "", "", path })
	if _, err := c.BlockCount(context.Background()); err == nil {
		t.Fatal("call succeeded without a cookie file")
	}
	if err := os.WriteFile(path, []byte("__cookie__:c00kie\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := c.BlockCount(context.Background()); err != nil || n != 7 {
		t.Fatalf("BlockCount = %d, %v; want 7", n, err)
	}
}

func TestResponseSizeLimit(t *testing.T) {
	big := `["` + strings.Repeat(hashA+`","`, 100) + hashA + `"]`
	srv := fakeNode(t, testUser, testPass, map[string]reply{"getrawmempool": ok(big)})
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxResponseBytes = 1024 })
	var re *ResponseError
	if _, err := c.RawMempool(context.Background()); !errors.As(err, &re) {
		t.Fatalf("err = %v, want *ResponseError", err)
	}
}

func TestEstimateFee(t *testing.T) {
	tests := []struct {
		name    string
		rep     *reply // nil: method not found, as on btcd
		want    FeeRate
		wantErr bool
	}{
		{"btcd has no estimatesmartfee", nil, FeeRate{SatPerKVB: DefaultFallbackFeeRate, Fallback: true}, false},
		{"core without data", &reply{body: `{"result":{"errors":["Insufficient data or no feerate found"],"blocks":0},"error":null,"id":{{id}}}`}, FeeRate{SatPerKVB: DefaultFallbackFeeRate, Fallback: true}, false},
		{"core estimate", &reply{body: `{"result":{"feerate":0.00012345,"blocks":2},"error":null,"id":{{id}}}`}, FeeRate{SatPerKVB: 12345, Blocks: 2}, false},
		{"exponent form", &reply{body: `{"result":{"feerate":1e-05,"blocks":6},"error":null,"id":{{id}}}`}, FeeRate{SatPerKVB: 1000, Blocks: 6}, false},
		{"sub-satoshi rounds up", &reply{body: `{"result":{"feerate":0.000010001,"blocks":6},"error":null,"id":{{id}}}`}, FeeRate{SatPerKVB: 1001, Blocks: 6}, false},
		{"string feerate", &reply{body: `{"result":{"feerate":"0.1","blocks":6},"error":null,"id":{{id}}}`}, FeeRate{}, true},
		{"negative feerate", &reply{body: `{"result":{"feerate":-0.1,"blocks":6},"error":null,"id":{{id}}}`}, FeeRate{}, true},
		{"absurd exponent", &reply{body: `{"result":{"feerate":1e999999999,"blocks":6},"error":null,"id":{{id}}}`}, FeeRate{}, true},
		{"transport failure is not a fallback", &reply{status: 502, body: `bad gateway`}, FeeRate{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			replies := map[string]reply{}
			if tc.rep != nil {
				replies["estimatesmartfee"] = *tc.rep
			}
			srv := fakeNode(t, testUser, testPass, replies)
			got, err := newTestClient(t, srv.URL, nil).EstimateFee(context.Background(), 6)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("EstimateFee = %+v, %v; want %+v, err=%v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestMempoolSpends(t *testing.T) {
	op := chain.Outpoint{TxID: hashA, Index: 1}
	t.Run("unsupported", func(t *testing.T) {
		srv := fakeNode(t, testUser, testPass, nil)
		_, err := newTestClient(t, srv.URL, nil).MempoolSpends(context.Background(), []chain.Outpoint{op})
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	})
	t.Run("spent and unspent", func(t *testing.T) {
		spender := strings.Repeat("ab", 32)
		srv := fakeNode(t, testUser, testPass, map[string]reply{"gettxspendingprevout": ok(
			`[{"txid":"` + hashA + `","vout":1,"spendingtxid":"` + spender + `"},{"txid":"` + hashA + `","vout":2}]`)})
		got, err := newTestClient(t, srv.URL, nil).MempoolSpends(context.Background(), []chain.Outpoint{op, {TxID: hashA, Index: 2}})
		if err != nil || len(got) != 1 || got[op] != spender {
			t.Fatalf("MempoolSpends = %v, %v", got, err)
		}
	})
	t.Run("garbage spender", func(t *testing.T) {
		srv := fakeNode(t, testUser, testPass, map[string]reply{"gettxspendingprevout": ok(
			`[{"txid":"` + hashA + `","vout":1,"spendingtxid":"xyz"}]`)})
		var re *ResponseError
		if _, err := newTestClient(t, srv.URL, nil).MempoolSpends(context.Background(), []chain.Outpoint{op}); !errors.As(err, &re) {
			t.Fatalf("err = %v, want *ResponseError", err)
		}
	})
}

func TestCheckNetwork(t *testing.T) {
	tests := []struct {
		name   string
		chain  string
		params *chaincfg.Params
		want   error
	}{
		{"core mainnet", "main", &chaincfg.MainNetParams, nil},
		{"btcd mainnet", "mainnet", &chaincfg.MainNetParams, nil},
		{"core testnet3", "test", &chaincfg.TestNet3Params, nil},
		{"regtest", "regtest", &chaincfg.RegressionNetParams, nil},
		{"regtest node, mainnet config", "regtest", &chaincfg.MainNetParams, ErrWrongNetwork},
		{"testnet4 node, testnet3 config", "testnet4", &chaincfg.TestNet3Params, ErrWrongNetwork},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeNode(t, testUser, testPass, map[string]reply{"getblockchaininfo": ok(
				`{"chain":"` + tc.chain + `","blocks":5,"bestblockhash":"` + hashA + `"}`)})
			err := newTestClient(t, srv.URL, func(c *Config) { c.Params = tc.params }).CheckNetwork(context.Background())
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("CheckNetwork = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBlockGarbage(t *testing.T) {
	tests := []struct {
		name   string
		result string
	}{
		{"not hex", `"zz"`},
		{"empty", `""`},
		{"not a block", `"0102"`},
		{"genesis bytes for another hash", `"` + genesisHex + `"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeNode(t, testUser, testPass, map[string]reply{"getblock": ok(tc.result)})
			_, err := newTestClient(t, srv.URL, nil).Block(context.Background(), 0, strings.Repeat("0", 64), nil)
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *ResponseError", err)
			}
		})
	}
	t.Run("genesis accepted", func(t *testing.T) {
		srv := fakeNode(t, testUser, testPass, map[string]reply{"getblock": ok(`"` + genesisHex + `"`)})
		blk, err := newTestClient(t, srv.URL, nil).Block(context.Background(), 0, hashA, nil)
		if err != nil || blk.Hash != hashA || len(blk.Txs) != 1 {
			t.Fatalf("Block = %+v, %v", blk, err)
		}
	})
}

func TestSubscribeUnsupported(t *testing.T) {
	// Bitcoin Core serves no websocket: the handshake gets a plain 404.
	srv := fakeNode(t, testUser, testPass, nil)
	_, err := newTestClient(t, srv.URL, nil).Subscribe(context.Background())
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Subscribe err = %v, want ErrUnsupported", err)
	}
}

// genesisHex is the serialised mainnet genesis block.
const genesisHex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c0101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
