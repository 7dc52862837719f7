package cli

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// fakeKraken and fakeCoinbase answer on loopback in their providers'
// public formats (Kraken's Ticker, Coinbase's exchange rates) with a price
// the test sets.
func fakeKraken(t *testing.T, usd string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/0/public/Ticker" || !strings.Contains(r.URL.Query().Get("pair"), "XBTUSD") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"error":[],"result":{"XXBTZUSD":{"a":["%[1]s","1","1.000"],"b":["%[1]s","1","1.000"],"c":["%[1]s","0.001"],"v":["1","2"],"p":["%[1]s","%[1]s"],"t":[1,2],"l":["%[1]s","%[1]s"],"h":["%[1]s","%[1]s"],"o":"%[1]s"}}}`, usd)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fakeCoinbase(t *testing.T, usd string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/exchange-rates" {
			http.NotFound(w, r)
			return
		}
		cur := r.URL.Query().Get("currency")
		w.Header().Set("Content-Type", "application/json")
		if cur != "BTC" {
			fmt.Fprintf(w, `{"data":{"currency":%q,"rates":{}}}`, cur)
			return
		}
		fmt.Fprintf(w, `{"data":{"currency":"BTC","rates":{"USD":%q,"EUR":"61845.215"}}}`, usd)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type apiClient struct {
	t    *testing.T
	base string
	key  string
	seq  atomic.Int64
}

func (c *apiClient) do(method, path, body string, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

type invoiceResp struct {
	ID           string   `json:"id"`
	Rate         *string  `json:"rate"`
	RateSources  []string `json:"rate_sources"`
	RateAt       *string  `json:"rate_at"`
	RateSpread   *string  `json:"rate_spread"`
	CryptoAmount string   `json:"crypto_amount"`
	Error        *struct {
		Code, Message, Param string
	} `json:"error"`
}

func (c *apiClient) invoice(amount, currency string) (int, invoiceResp) {
	var inv invoiceResp
	n := c.seq.Add(1)
	code := c.do("POST", "/v1/invoices", fmt.Sprintf(`{"order_id":"o-%d","amount":%q,"currency":%q}`, n, amount, currency), &inv)
	return code, inv
}

type ratesResp struct {
	Data []struct {
		Pair      string   `json:"pair"`
		Healthy   bool     `json:"healthy"`
		Rate      *string  `json:"rate"`
		Sources   []string `json:"sources"`
		PerSource []struct {
			Source, State string
		} `json:"per_source"`
	} `json:"data"`
}

func (c *apiClient) btcUSD() (healthy bool, rate string, sources []string, states map[string]string) {
	var r ratesResp
	if code := c.do("GET", "/v1/rates", "", &r); code != 200 {
		c.t.Fatalf("GET /v1/rates: %d", code)
	}
	for _, p := range r.Data {
		if p.Pair == "BTC_USD" {
			states = map[string]string{}
			for _, s := range p.PerSource {
				states[s.Source] = s.State
			}
			if p.Rate != nil {
				rate = *p.Rate
			}
			return p.Healthy, rate, p.Sources, states
		}
	}
	c.t.Fatal("no BTC_USD in /v1/rates")
	return
}

// TestServePricesAtTheMedianOfLiveProviders runs serve with two fake
// providers on loopback: a USD invoice is priced at their median and
// locks it; with one provider down invoices are still priced, from the
// other; with both down USD invoices get 503 rates_unavailable naming
// each provider's state, and BTC invoices still work. It measures how long
// after a provider's outage the price falls back to the others.
func TestServePricesAtTheMedianOfLiveProviders(t *testing.T) {
	kraken, coinbase := fakeKraken(t, "67000.00"), fakeCoinbase(t, "67100.00")
	listen := freeAddr(t)
	e := &secEnv{t: t, vars: map[string]string{
		"CRYPTOPAY_DATA_DIR":            t.TempDir(),
		"CRYPTOPAY_LISTEN":              listen,
		"CRYPTOPAY_LOG_LEVEL":           "error",
		"CRYPTOPAY_RATE_LIMIT_KEY":      "off",
		"CRYPTOPAY_RATE_LIMIT_IP":       "off",
		"CRYPTOPAY_RATES_SOURCES":       "kraken,coinbase",
		"CRYPTOPAY_RATES_KRAKEN_URL":    kraken.URL,
		"CRYPTOPAY_RATES_COINBASE_URL":  coinbase.URL,
		"CRYPTOPAY_RATES_REFRESH":       "300ms", // 200-400 ms with jitter
		"CRYPTOPAY_RATES_TIMEOUT":       "1s",
		"CRYPTOPAY_RATES_MAX_AGE":       "2s",
		"CRYPTOPAY_RATES_QUORUM":        "1", // one provider may price alone
		"CRYPTOPAY_RATES_MAX_DEVIATION": "2%",
	}}
	e.must("migrate")
	env := Env{Getenv: func(k string) string { return e.vars[k] }, Stdout: io.Discard, Stderr: io.Discard}
	keys := withTestApp(t, env, func(a *app) [2]string {
		st := createRegtestStore(t, a)
		k, err := a.svc.CreateKey(t.Context(), gateway.KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write", "invoices:read", "events:read"}})
		if err != nil {
			t.Fatal(err)
		}
		spread, err := a.svc.CreateStore(t.Context(), gateway.StoreParams{Name: "spread", RateSpreadBasisPoints: 100,
			Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestAccount1Key(t)}}})
		if err != nil {
			t.Fatal(err)
		}
		k2, err := a.svc.CreateKey(t.Context(), gateway.KeyParams{StoreID: spread.ID, Name: "shop", Scopes: []string{"invoices:write", "invoices:read"}})
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{k.Secret, k2.Secret}
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() {
		code, _, errs := e.runCtx(ctx, "serve")
		done <- fmt.Sprintf("exit %d: %s", code, errs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	c := &apiClient{t: t, base: "http://" + listen, key: keys[0]}
	waitFor(t, 10*time.Second, "serve up with both providers priced", func() bool {
		resp, err := http.Get(c.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		ok, _, src, _ := c.btcUSD()
		return ok && len(src) == 2
	})

	// 1. Both up: the median of 67000.00 and 67100.00, locked on the
	// invoice and in its event.
	code, inv := c.invoice("100.00", "USD")
	if code != 201 || inv.Rate == nil || *inv.Rate != "67050.00000000" || !slices.Equal(inv.RateSources, []string{"coinbase", "kraken"}) ||
		inv.RateAt == nil || inv.RateSpread == nil || *inv.RateSpread != "0.00" {
		t.Fatalf("USD invoice with both providers: %d %+v", code, inv)
	}
	if inv.CryptoAmount != "0.00149143" { // 100 / 67050 = 0.001491424…, rounded up to the satoshi
		t.Errorf("crypto_amount %s, want 0.00149143", inv.CryptoAmount)
	}
	var events struct {
		Data []struct {
			Type string
			Data struct {
				Rate        *string  `json:"rate"`
				RateSources []string `json:"rate_sources"`
				RateAt      *string  `json:"rate_at"`
			}
		}
	}
	c.do("GET", "/v1/events?invoice="+inv.ID, "", &events)
	if len(events.Data) != 1 || events.Data[0].Data.Rate == nil || *events.Data[0].Data.Rate != "67050.00000000" ||
		!slices.Equal(events.Data[0].Data.RateSources, inv.RateSources) || events.Data[0].Data.RateAt == nil || *events.Data[0].Data.RateAt != *inv.RateAt {
		t.Errorf("invoice.created does not carry the locked rate: %+v", events.Data)
	}
	// The store's spread lowers the rate: 67050 × 0.99.
	c2 := &apiClient{t: t, base: c.base, key: keys[1]}
	if code, inv := c2.invoice("100.00", "USD"); code != 201 || *inv.Rate != "66379.50000000" || *inv.RateSpread != "1.00" || inv.CryptoAmount != "0.00150649" {
		t.Errorf("spread store's invoice: %d %+v", code, inv)
	}

	// 2. Kraken goes down. Its last price counts until it is stale
	// (2 s here), then the price falls back to Coinbase alone.
	outage := time.Now()
	kraken.Close()
	var detected, fallback time.Duration
	waitFor(t, 10*time.Second, "fallback to coinbase alone", func() bool {
		_, rate, src, states := c.btcUSD()
		if detected == 0 && states["kraken"] != "ok" {
			detected = time.Since(outage)
		}
		if rate == "67100.00000000" && slices.Equal(src, []string{"coinbase"}) {
			fallback = time.Since(outage)
			return true
		}
		return false
	})
	t.Logf("provider outage: detected after %s, price fell back to the remaining provider after %s (refresh 300ms±⅓, max age 2s)", detected.Round(time.Millisecond), fallback.Round(time.Millisecond))
	if code, inv := c.invoice("100.00", "USD"); code != 201 || *inv.Rate != "67100.00000000" || !slices.Equal(inv.RateSources, []string{"coinbase"}) {
		t.Fatalf("USD invoice with one provider down: %d %+v", code, inv)
	}

	// 3. Coinbase goes down too: USD invoices are refused with a reason,
	// BTC invoices are not affected.
	coinbase.Close()
	var refused invoiceResp
	waitFor(t, 10*time.Second, "USD refused", func() bool {
		var code int
		code, refused = c.invoice("100.00", "USD")
		return code == http.StatusServiceUnavailable
	})
	if refused.Error == nil || refused.Error.Code != "rates_unavailable" || refused.Error.Param != "currency" {
		t.Fatalf("refusal: %+v", refused.Error)
	}
	for _, m := range []string{"BTC/USD", "kraken stale", "coinbase stale", "unreachable"} {
		if !strings.Contains(refused.Error.Message, m) {
			t.Errorf("refusal %q does not mention %q", refused.Error.Message, m)
		}
	}
	if code, inv := c.invoice("0.0015", "BTC"); code != 201 || inv.Rate != nil || inv.RateSources != nil {
		t.Errorf("BTC invoice with every provider down: %d %+v", code, inv)
	}
	var ready struct {
		Status string
		Checks map[string]string
	}
	resp, err := http.Get(c.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(ready.Checks["rates"], "BTC_USD") {
		t.Errorf("/readyz %d %+v: want ready, naming BTC_USD as without a rate", resp.StatusCode, ready)
	}

	// cryptopay rates shows the same from the database and the providers.
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"rates", "--cached"}, Env{Getenv: env.Getenv, Stdout: &out, Stderr: io.Discard}); code != 0 ||
		!strings.Contains(out.String(), "BTC_USD") || !strings.Contains(out.String(), "UNAVAILABLE") {
		t.Errorf("cryptopay rates --cached: exit %d\n%s", code, out.String())
	}
}

// regtestAccount1Key is BIP84 account 1 of the same test mnemonic as
// regtestAccountKey: a second store needs its own account.
func regtestAccount1Key(t *testing.T) string {
	t.Helper()
	seed, err := pbkdf2.Key(sha512.New, "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", []byte("mnemonic"), 2048, 64)
	if err != nil {
		t.Fatal(err)
	}
	_, vpub, err := account.DeriveAccountFromSeed(seed, account.Regtest, 1)
	if err != nil {
		t.Fatal(err)
	}
	return vpub
}
