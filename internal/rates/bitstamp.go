package rates

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// bitstampProvider reads Bitstamp's public ticker, one request per pair,
// GET /api/v2/ticker/btcusd/: {"last":"67003","timestamp":"1733230000",
// "bid":...,"ask":...}, every field a string. The price is "last" at
// "timestamp", so a frozen market shows up as stale. Bitstamp lists BTC
// against USD, EUR and GBP only (and the stablecoins against USD); the
// other fiat currencies come from the other providers.
type bitstampProvider struct{ httpGetter }

func (b *bitstampProvider) Name() string { return Bitstamp }

var bitstampPairs = map[Pair]bool{
	{"BTC", "USD"}: true, {"BTC", "EUR"}: true, {"BTC", "GBP"}: true,
	{"USDT", "USD"}: true, {"USDC", "USD"}: true,
}

func (b *bitstampProvider) Fetch(ctx context.Context, pairs []Pair) ([]Observation, error) {
	var out []Observation
	for _, p := range pairs {
		if !bitstampPairs[p] {
			continue
		}
		body, err := b.get(ctx, "/api/v2/ticker/"+strings.ToLower(p.Base+p.Quote)+"/")
		if err != nil {
			return nil, err
		}
		o, err := parseBitstamp(body, p)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// parseBitstamp reads one ticker response for p.
func parseBitstamp(body []byte, p Pair) (Observation, error) {
	var resp struct {
		Last      *string `json:"last"`
		Timestamp *string `json:"timestamp"`
	}
	if err := decodeStrict(body, &resp); err != nil {
		return Observation{}, err
	}
	if resp.Last == nil || resp.Timestamp == nil {
		return Observation{}, errors.New("bitstamp: no last or timestamp")
	}
	r, err := parseDecimal(*resp.Last)
	if err != nil {
		return Observation{}, fmt.Errorf("bitstamp %s: %w", p, err)
	}
	sec, err := strconv.ParseInt(*resp.Timestamp, 10, 64)
	if err != nil || sec <= 0 || sec > 1<<40 {
		return Observation{}, fmt.Errorf("bitstamp %s: timestamp %q is not Unix seconds", p, truncate(*resp.Timestamp))
	}
	return Observation{Pair: p, Rate: r, At: time.Unix(sec, 0).UTC()}, nil
}
