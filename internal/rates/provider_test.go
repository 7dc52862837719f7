package rates

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixtureFor maps a provider request to the committed response it
// replays: each file is that provider's documented public response format.
func fixtureFor(r *http.Request) string {
	switch p := r.URL.Path; {
	case p == "/0/public/Ticker":
		return "kraken_ticker.json"
	case p == "/v2/exchange-rates":
		return "coinbase_exchange_rates_" + strings.ToLower(r.URL.Query().Get("currency")) + ".json"
	case strings.HasPrefix(p, "/api/v2/ticker/"):
		return "bitstamp_ticker_" + strings.Trim(strings.TrimPrefix(p, "/api/v2/ticker/"), "/") + ".json"
	case p == "/api/v3/simple/price":
		return "coingecko_simple_price.json"
	}
	return ""
}

// replay is a provider's stand-in on loopback: it serves the fixtures, or
// fails in one of the ways real providers fail.
type replay struct {
	mu       sync.Mutex
	mode     string            // "" serves the fixtures
	override map[string]string // fixture name -> body to serve instead
	hits     int
}

func (rp *replay) set(mode string) {
	rp.mu.Lock()
	rp.mode = mode
	rp.mu.Unlock()
}

func newReplay(t testing.TB) (*replay, *httptest.Server) {
	rp := &replay{override: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		mode := rp.mode
		rp.hits++
		name := fixtureFor(r)
		body, overridden := rp.override[name]
		rp.mu.Unlock()
		if !overridden {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if name == "" || err != nil {
				http.NotFound(w, r)
				return
			}
			body = string(b)
		}
		switch mode {
		case "timeout":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		case "500":
			http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
			return
		case "html":
			b, _ := os.ReadFile(filepath.Join("testdata", "html_error.html"))
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK) // a captive portal or CDN page answering 200
			_, _ = w.Write(b)
			return
		case "html502":
			b, _ := os.ReadFile(filepath.Join("testdata", "html_error.html"))
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write(b)
			return
		case "truncated":
			body = body[:len(body)/2]
		case "429":
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"rate limited"}`))
			return
		case "down":
			hj, ok := w.(http.Hijacker)
			if ok {
				conn, _, _ := hj.Hijack()
				conn.Close() // connection dropped mid-request
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return rp, srv
}

func rat(t testing.TB, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad test decimal %q", s)
	}
	return r
}

// The expected prices are the fixtures' own text for each pair: the
// field each provider documents as the price (Kraken's last trade "c"[0],
// Coinbase's rates map, Bitstamp's "last", CoinGecko's vs-currency value).
var providerCases = []struct {
	name string
	want map[Pair]string
	at   map[Pair]int64 // Unix seconds of the provider's own time; absent: arrival time
}{
	{Kraken, map[Pair]string{
		{"BTC", "USD"}: "67012.10000", {"BTC", "EUR"}: "61850.30000", {"BTC", "GBP"}: "52800.9", {"BTC", "JPY"}: "10450000",
		{"BTC", "CAD"}: "91795.5", {"BTC", "AUD"}: "101295.0", {"BTC", "CHF"}: "59305.0",
		{"USDT", "USD"}: "1.00010000", {"USDC", "USD"}: "0.99990000",
	}, nil},
	{Coinbase, map[Pair]string{
		{"BTC", "USD"}: "67005.505", {"BTC", "EUR"}: "61845.215", {"BTC", "GBP"}: "52797.6", {"BTC", "JPY"}: "10449210.3",
		{"BTC", "CAD"}: "91788.02", {"BTC", "AUD"}: "101280.435", {"BTC", "CHF"}: "59298.7",
		{"USDT", "USD"}: "1.0001", {"USDC", "USD"}: "0.9999",
	}, nil},
	{Bitstamp, map[Pair]string{
		{"BTC", "USD"}: "67003.00", {"BTC", "EUR"}: "61849.00", {"BTC", "GBP"}: "52799.00",
		{"USDT", "USD"}: "1.00008", {"USDC", "USD"}: "0.99995",
	}, map[Pair]int64{{"BTC", "USD"}: 1733230000, {"USDC", "USD"}: 1733230000}},
	{CoinGecko, map[Pair]string{
		{"BTC", "USD"}: "67001.23", {"BTC", "EUR"}: "61848.7", {"BTC", "GBP"}: "52798.12", {"BTC", "JPY"}: "10449876",
		{"BTC", "CAD"}: "91791.4", {"BTC", "AUD"}: "101290.6", {"BTC", "CHF"}: "59301.05",
		{"USDT", "USD"}: "1.0003", {"USDC", "USD"}: "0.999876",
	}, map[Pair]int64{{"BTC", "USD"}: 1733230000, {"USDT", "USD"}: 1733229990}},
}

func TestProvidersParseTheirFixtures(t *testing.T) {
	for _, tc := range providerCases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newReplay(t)
			p, err := NewProvider(tc.name, srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			obs, err := p.Fetch(context.Background(), DefaultPairs())
			if err != nil {
				t.Fatal(err)
			}
			got := map[Pair]Observation{}
			for _, o := range obs {
				got[o.Pair] = o
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d pairs priced, want %d: %v", len(got), len(tc.want), got)
			}
			for pair, w := range tc.want {
				o, ok := got[pair]
				if !ok {
					t.Errorf("%s: not priced", pair)
					continue
				}
				if o.Rate.Cmp(rat(t, w)) != 0 {
					t.Errorf("%s = %s, want exactly %s", pair, o.Rate.RatString(), w)
				}
			}
			for pair, sec := range tc.at {
				if !got[pair].At.Equal(time.Unix(sec, 0)) {
					t.Errorf("%s at %v, want the provider's time %v", pair, got[pair].At, time.Unix(sec, 0).UTC())
				}
			}
			if tc.at == nil {
				for pair, o := range got {
					if o.At.Before(before) {
						t.Errorf("%s at %v: a provider without its own time is dated by arrival (after %v)", pair, o.At, before)
					}
				}
			}
		})
	}
}

func TestProvidersFailureShapes(t *testing.T) {
	for _, name := range ProviderNames {
		for _, tc := range []struct {
			mode    string
			wantErr string // publicError's words
		}{
			{"timeout", "timed out"},
			{"500", "HTTP 500"},
			{"html", "sent an HTML page instead of JSON"},
			{"html502", "HTTP 502"},
			{"truncated", "sent malformed or truncated JSON"},
			{"429", "rate limited (HTTP 429), retry after 30s"},
			{"down", "unreachable"},
		} {
			t.Run(name+"/"+tc.mode, func(t *testing.T) {
				rp, srv := newReplay(t)
				rp.set(tc.mode)
				p, _ := NewProvider(name, srv.URL, srv.Client())
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				obs, err := p.Fetch(ctx, DefaultPairs())
				if err == nil {
					t.Fatalf("accepted: %v", obs)
				}
				if got := publicError(err); got != tc.wantErr {
					t.Errorf("publicError = %q, want %q (err %v)", got, tc.wantErr, err)
				}
				if tc.mode == "429" {
					var rl *RateLimitedError
					if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
						t.Errorf("429 error %v does not carry Retry-After 30s", err)
					}
				}
			})
		}
	}
}

// TestProvidersRefuseAbsurdPrices: a price that is not a plain positive
// decimal fails the whole response rather than entering the median.
func TestProvidersRefuseAbsurdPrices(t *testing.T) {
	cases := []struct {
		name, fixture, body string
	}{
		{Kraken, "kraken_ticker.json", `{"error":[],"result":{"XXBTZUSD":{"c":["-67012.1","1"]}}}`},
		{Kraken, "kraken_ticker.json", `{"error":[],"result":{"XXBTZUSD":{"c":[]}}}`},
		{Kraken, "kraken_ticker.json", `{"error":["EGeneral:Temporary lockout"]}`},
		{Kraken, "kraken_ticker.json", `{"error":[],"result":{"XXBTZUSD":{"c":["0x10","1"]}}}`},
		{Coinbase, "coinbase_exchange_rates_btc.json", `{"data":{"currency":"BTC","rates":{"USD":"NaN"}}}`},
		{Coinbase, "coinbase_exchange_rates_btc.json", `{"data":{"currency":"ETH","rates":{"USD":"3000"}}}`},
		{Coinbase, "coinbase_exchange_rates_btc.json", `{"errors":[{"id":"not_found","message":"Invalid currency"}]}`},
		{Bitstamp, "bitstamp_ticker_btcusd.json", `{"last":"0","timestamp":"1733230000"}`},
		{Bitstamp, "bitstamp_ticker_btcusd.json", `{"last":"67000","timestamp":"yesterday"}`},
		{Bitstamp, "bitstamp_ticker_btcusd.json", `{"last":67000,"timestamp":"1733230000"}`},
		{CoinGecko, "coingecko_simple_price.json", `{"bitcoin":{"usd":1e400,"last_updated_at":1733230000}}`},
		{CoinGecko, "coingecko_simple_price.json", `{"bitcoin":{"usd":-1,"last_updated_at":1733230000}}`},
		{CoinGecko, "coingecko_simple_price.json", `{"bitcoin":{"usd":67000}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/"+tc.body, func(t *testing.T) {
			rp, srv := newReplay(t)
			rp.override[tc.fixture] = tc.body
			p, _ := NewProvider(tc.name, srv.URL, srv.Client())
			if obs, err := p.Fetch(context.Background(), []Pair{{"BTC", "USD"}}); err == nil {
				t.Fatalf("accepted %s: %v", tc.body, obs)
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" means refused
	}{
		{"67012.10000", "670121/10"},
		{"1", "1"},
		{"0.000001", "1/1000000"},
		{"6.7e4", "67000"},
		{"1E-2", "1/100"},
		{"0", ""}, {"0.00", ""}, {"-1", ""}, {"+1", ""}, {"1/3", ""}, {"0x10", ""}, {"NaN", ""}, {"Inf", ""},
		{".5", ""}, {"5.", ""}, {"", ""}, {" 1", ""}, {"1e400", ""}, {"1,000.00", ""},
	} {
		r, err := parseDecimal(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("parseDecimal(%q) = %v, want refused", tc.in, r)
		case tc.want != "" && (err != nil || r.RatString() != tc.want):
			t.Errorf("parseDecimal(%q) = %v, %v, want %s", tc.in, r, err, tc.want)
		}
	}
}
