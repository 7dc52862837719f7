package btcrpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

// FuzzHealthResults feeds any result to the health calls doctor and
// /readyz rely on (getblockchaininfo, getmempoolinfo, getpeerinfo): each
// either fails with an error or returns values that hold their invariants
// (a 64-digit best hash, counts never negative, a peer height of -1 or
// more), and none panics.
func FuzzHealthResults(f *testing.F) {
	for _, seed := range []string{
		`{"chain":"main","blocks":870000,"headers":870000,"bestblockhash":"` + hashA + `","initialblockdownload":false,"pruned":true,"pruneheight":860000}`,
		`{"loaded":false,"size":0,"fullrbf":true}`,
		`[{"synced_headers":870000},{"currentheight":5},{}]`,
		`{"blocks":-1}`, `[]`, `"x"`, `null`, `{"loaded":"yes"}`,
	} {
		f.Add(seed)
	}
	var mu sync.Mutex
	var result string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		res := result
		mu.Unlock()
		var req struct {
			ID uint64 `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"result":%s,"error":null,"id":%d}`, res, req.ID)
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, Params: &chaincfg.MainNetParams})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, res string) {
		mu.Lock()
		result = res
		mu.Unlock()
		ctx := context.Background()
		if info, err := c.ChainInfo(ctx); err == nil {
			if !isHash(info.BestBlockHash) || info.Blocks < 0 || info.Headers < 0 || info.PruneHeight < 0 {
				t.Fatalf("ChainInfo accepted %s as %+v", res, info)
			}
		}
		if mp, err := c.MempoolInfo(ctx); err == nil && mp.Size < 0 {
			t.Fatalf("MempoolInfo accepted %s as %+v", res, mp)
		}
		if n, best, err := c.PeerHeights(ctx); err == nil && (n < 0 || best < -1) {
			t.Fatalf("PeerHeights accepted %s as %d, %d", res, n, best)
		}
	})
}
