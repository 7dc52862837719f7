package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
)

// scrape GETs url (with token as a bearer when not empty) and returns the
// status and the samples of the text exposition, by series ("name{labels}").
func scrape(t *testing.T, url, token string) (int, map[string]float64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, samples
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, samples
}

// TestMetricsScrapedFromServe runs serve against a real regtest node with
// the admin listener and a metrics token, drives what the metrics count
// (an invoice, a refused key, blocks) and scrapes both ways.
func TestMetricsScrapedFromServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	btcd, err := regtest.BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := regtest.NewWallet([]byte("cryptopay metrics test seed 0001"), regtest.Params)
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
	admin := freeAddr(t)
	const token = "scrape-me-0123456789"
	a := testApp(t, map[string]string{
		"CRYPTOPAY_ADMIN_ADDR":            admin,
		"CRYPTOPAY_METRICS_TOKEN":         token,
		"CRYPTOPAY_BITCOIN_NETWORK":       "bitcoin-regtest",
		"CRYPTOPAY_BITCOIN_RPC_URL":       node.RPCURL(),
		"CRYPTOPAY_BITCOIN_RPC_USER":      node.RPCUser(),
		"CRYPTOPAY_BITCOIN_RPC_PASSWORD":  node.RPCPassword(),
		"CRYPTOPAY_BITCOIN_POLL_INTERVAL": "100ms",
	})
	st := createRegtestStore(t, a)
	api := "http://" + startServe(t, a)
	// serve starts its metrics (and the batch observer) before the admin
	// listener answers; startServe returns as soon as the API's listener
	// exists, so wait for the admin one before writing anything.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + admin + "/metrics"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the admin listener never answered")
		}
	}
	inv := createTestInvoice(t, a, st.ID) // through group commit, now observed

	// Two refused keys: auth failures.
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, api+"/v1/invoices", nil)
		req.Header.Set("Authorization", "Bearer cp_test_not-a-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad key: HTTP %d", resp.StatusCode)
		}
	}
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	var samples map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		var code int
		code, samples = scrape(t, "http://"+admin+"/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("admin /metrics: HTTP %d", code)
		}
		if samples[`cryptopay_chain_tip_height{network="bitcoin-regtest"}`] == 103 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chain tip never reached 103: %v", samples[`cryptopay_chain_tip_height{network="bitcoin-regtest"}`])
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
	cases := []struct {
		name, series string
		want         func(float64) bool
	}{
		{"invoices by network and status", `cryptopay_invoices{network="bitcoin-regtest",status="new"}`, func(v float64) bool { return v == 1 }},
		{"auth failures", `cryptopay_http_rejections_total{reason="auth_failed"}`, func(v float64) bool { return v == 2 }},
		{"webhook queue depth", `cryptopay_webhook_queue_depth`, func(v float64) bool { return v == 0 }},
		{"database readable", `cryptopay_database_up`, func(v float64) bool { return v == 1 }},
		{"node blocks", `cryptopay_node_blocks{network="bitcoin-regtest"}`, func(v float64) bool { return v >= 101 }},
		{"node lag", `cryptopay_node_lag_blocks{network="bitcoin-regtest"}`, func(v float64) bool { return v == 0 }},
		{"group commit batches of the API", `cryptopay_storage_group_commit_batch_size_count{queue="ordinary"}`, func(v float64) bool { return v >= 1 }},
		{"group commit batches of the chain path", `cryptopay_storage_group_commit_batch_size_count{queue="priority"}`, func(v float64) bool { return v >= 1 }},
	}
	for _, tc := range cases {
		v, ok := samples[tc.series]
		if !ok || !tc.want(v) {
			t.Errorf("%s: %s = %v (present %v)", tc.name, tc.series, v, ok)
		}
	}

	// A payment: its detection is timed.
	if _, _, err := wallet.Pay(ctx, node, inv.Address, 100_000, regtest.Opts{}); err != nil {
		t.Fatal(err)
	}
	const detected = `cryptopay_payment_detection_seconds_count{network="bitcoin-regtest"}`
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, s := scrape(t, "http://"+admin+"/metrics", "")
		if s[detected] == 1 {
			if sum := s[`cryptopay_payment_detection_seconds_sum{network="bitcoin-regtest"}`]; sum <= 0 || sum > 30 {
				t.Errorf("detection took %v s", sum)
			}
			if s[`cryptopay_invoices{network="bitcoin-regtest",status="processing"}`] != 1 {
				t.Errorf("paid invoice not counted as processing")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v 30s after the payment", detected, s[detected])
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}

	// On the API listener /metrics needs the token; without it the path is
	// the API's 404.
	if code, s := scrape(t, api+"/metrics", token); code != http.StatusOK || len(s) == 0 {
		t.Errorf("API /metrics with the token: HTTP %d, %d samples", code, len(s))
	}
	for _, bad := range []string{"", "wrong", token + "x"} {
		if code, _ := scrape(t, api+"/metrics", bad); code != http.StatusNotFound {
			t.Errorf("API /metrics with token %q: HTTP %d, want 404", bad, code)
		}
	}
}
