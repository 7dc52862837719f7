package rates

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
)

// Pair is a rate's two currencies: the price of one Base in Quote.
type Pair struct{ Base, Quote string }

func (p Pair) String() string { return p.Base + "_" + p.Quote }

// ParsePair parses "BTC_USD".
func ParsePair(s string) (Pair, bool) {
	b, q, ok := strings.Cut(s, "_")
	return Pair{b, q}, ok && b != "" && q != ""
}

// Fiats are the currencies Bitcoin is priced against.
var Fiats = []string{"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF"}

// Stablecoins are priced against USD only, behind the de-peg guard.
var Stablecoins = []string{"USDT", "USDC"}

// DefaultPairs is what the aggregator asks every provider for.
func DefaultPairs() []Pair {
	var out []Pair
	for _, f := range Fiats {
		out = append(out, Pair{"BTC", f})
	}
	for _, s := range Stablecoins {
		out = append(out, Pair{s, "USD"})
	}
	return out
}

// Observation is one provider's price for one pair.
type Observation struct {
	Pair Pair
	Rate *big.Rat
	// At is the provider's own time for the price when it gives one
	// (Bitstamp, CoinGecko), else when the response arrived.
	At time.Time
	// Crossed: derived through USD from two rates of the same refresh.
	Crossed bool
}

// Provider is a client of one public ticker API. Fetch returns what it
// could price among pairs (a pair the provider does not list is simply
// absent) or an error when the response as a whole is unusable.
type Provider interface {
	Name() string
	Fetch(ctx context.Context, pairs []Pair) ([]Observation, error)
}

// Provider names, as CRYPTOPAY_RATES_SOURCES spells them.
const (
	Kraken    = "kraken"
	Coinbase  = "coinbase"
	Bitstamp  = "bitstamp"
	CoinGecko = "coingecko"
)

// ProviderNames lists the providers in their default order.
var ProviderNames = []string{Kraken, Coinbase, Bitstamp, CoinGecko}

// DefaultURLs are the providers' public base URLs.
var DefaultURLs = map[string]string{
	Kraken:    "https://api.kraken.com",
	Coinbase:  "https://api.coinbase.com",
	Bitstamp:  "https://www.bitstamp.net",
	CoinGecko: "https://api.coingecko.com",
}

// NewProvider returns the named provider's client at base (its default
// public URL when empty).
func NewProvider(name, base string, client *http.Client) (Provider, error) {
	if base == "" {
		base = DefaultURLs[name]
	}
	h := httpGetter{base: strings.TrimRight(base, "/"), client: client, name: name}
	switch name {
	case Kraken:
		return &krakenProvider{h}, nil
	case Coinbase:
		return &coinbaseProvider{h}, nil
	case Bitstamp:
		return &bitstampProvider{h}, nil
	case CoinGecko:
		return &coingeckoProvider{h}, nil
	}
	return nil, fmt.Errorf("unknown rate provider %q; use %s", name, strings.Join(ProviderNames, ", "))
}

// maxBody bounds what is read of a provider's response.
const maxBody = 1 << 20

// RateLimitedError is a provider's 429: the breaker waits RetryAfter (when
// the provider said) before asking again.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("rate limited (HTTP 429), retry after %s", e.RetryAfter)
	}
	return "rate limited (HTTP 429)"
}

// httpGetter is the HTTP side every provider shares.
type httpGetter struct {
	base   string
	client *http.Client
	name   string
}

// get fetches base+path and returns the body once it is known to be a
// complete JSON document: a non-2xx status, an HTML error page, or a
// truncated body is an error that says which.
func (h httpGetter) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cryptopay-rates")
	client := h.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("response larger than %d bytes", maxBody)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e := &RateLimitedError{}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(min(s, 3600)) * time.Second
		}
		return nil, e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" || bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		return nil, errors.New("an HTML page instead of JSON")
	}
	if !json.Valid(body) {
		return nil, errors.New("malformed or truncated JSON")
	}
	return body, nil
}

// decodeStrict decodes body into v keeping numbers as json.Number, so a
// price never passes through a float.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// quoteDecimals is the minor-unit precision of a quote currency (2 when
// unknown, which only affects display).
func quoteDecimals(code string) int {
	if c, ok := cryptopay.LookupCurrency(code); ok {
		return c.Decimals
	}
	return 2
}
