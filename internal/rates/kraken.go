package rates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// krakenProvider reads Kraken's public Ticker,
// GET /0/public/Ticker?pair=XBTUSD,XBTEUR,...: {"error":[],"result":{
// "XXBTZUSD":{"c":["67012.10000","0.001"],...}}}. The price is "c"[0], the
// last trade. Kraken gives no time, so the response's arrival is its time.
type krakenProvider struct{ httpGetter }

func (k *krakenProvider) Name() string { return Kraken }

// krakenPairs maps a pair to the name asked for and the names Kraken may
// answer with (its legacy X/Z-prefixed names for older markets).
var krakenPairs = map[Pair][]string{
	{"BTC", "USD"}:  {"XBTUSD", "XXBTZUSD"},
	{"BTC", "EUR"}:  {"XBTEUR", "XXBTZEUR"},
	{"BTC", "GBP"}:  {"XBTGBP", "XXBTZGBP"},
	{"BTC", "JPY"}:  {"XBTJPY", "XXBTZJPY"},
	{"BTC", "CAD"}:  {"XBTCAD", "XXBTZCAD"},
	{"BTC", "AUD"}:  {"XBTAUD"},
	{"BTC", "CHF"}:  {"XBTCHF"},
	{"USDT", "USD"}: {"USDTUSD", "USDTZUSD"},
	{"USDC", "USD"}: {"USDCUSD"},
}

func (k *krakenProvider) Fetch(ctx context.Context, pairs []Pair) ([]Observation, error) {
	var names []string
	for _, p := range pairs {
		if n, ok := krakenPairs[p]; ok {
			names = append(names, n[0])
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	body, err := k.get(ctx, "/0/public/Ticker?pair="+strings.Join(names, ","))
	if err != nil {
		return nil, err
	}
	return parseKraken(body, pairs, time.Now())
}

// parseKraken reads a Ticker response; now is when it arrived.
func parseKraken(body []byte, pairs []Pair, now time.Time) ([]Observation, error) {
	var resp struct {
		Error  []string `json:"error"`
		Result map[string]struct {
			C []json.RawMessage `json:"c"`
		} `json:"result"`
	}
	if err := decodeStrict(body, &resp); err != nil {
		return nil, err
	}
	if len(resp.Error) > 0 {
		return nil, fmt.Errorf("kraken: %s", truncate(strings.Join(resp.Error, "; ")))
	}
	if resp.Result == nil {
		return nil, errors.New("kraken: no result")
	}
	var out []Observation
	for _, p := range pairs {
		for _, name := range krakenPairs[p] {
			t, ok := resp.Result[name]
			if !ok {
				continue
			}
			if len(t.C) == 0 {
				return nil, fmt.Errorf("kraken %s: no last trade", name)
			}
			r, err := parseJSONPrice(t.C[0])
			if err != nil {
				return nil, fmt.Errorf("kraken %s: %w", name, err)
			}
			out = append(out, Observation{Pair: p, Rate: r, At: now})
			break
		}
	}
	return out, nil
}
