package rates

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// coinbaseProvider reads Coinbase's public exchange rates,
// GET /v2/exchange-rates?currency=BTC: {"data":{"currency":"BTC","rates":
// {"USD":"67010.005","EUR":"61800.12",...}}}, one request per base
// currency, every rate a decimal string. Coinbase gives no time, so the
// response's arrival is its time.
type coinbaseProvider struct{ httpGetter }

func (c *coinbaseProvider) Name() string { return Coinbase }

func (c *coinbaseProvider) Fetch(ctx context.Context, pairs []Pair) ([]Observation, error) {
	byBase := map[string][]Pair{}
	var bases []string
	for _, p := range pairs {
		if byBase[p.Base] == nil {
			bases = append(bases, p.Base)
		}
		byBase[p.Base] = append(byBase[p.Base], p)
	}
	var out []Observation
	for _, b := range bases {
		body, err := c.get(ctx, "/v2/exchange-rates?currency="+url.QueryEscape(b))
		if err != nil {
			return nil, err
		}
		obs, err := parseCoinbase(body, b, byBase[b], time.Now())
		if err != nil {
			return nil, err
		}
		out = append(out, obs...)
	}
	return out, nil
}

// parseCoinbase reads an exchange-rates response for base.
func parseCoinbase(body []byte, base string, pairs []Pair, now time.Time) ([]Observation, error) {
	var resp struct {
		Data *struct {
			Currency string            `json:"currency"`
			Rates    map[string]string `json:"rates"`
		} `json:"data"`
	}
	if err := decodeStrict(body, &resp); err != nil {
		return nil, err
	}
	if resp.Data == nil || resp.Data.Rates == nil {
		return nil, errors.New("coinbase: no data.rates")
	}
	if resp.Data.Currency != base {
		return nil, fmt.Errorf("coinbase: rates for %q, asked for %s", truncate(resp.Data.Currency), base)
	}
	var out []Observation
	for _, p := range pairs {
		s, ok := resp.Data.Rates[p.Quote]
		if !ok {
			continue
		}
		r, err := parseDecimal(s)
		if err != nil {
			return nil, fmt.Errorf("coinbase %s: %w", p, err)
		}
		out = append(out, Observation{Pair: p, Rate: r, At: now})
	}
	return out, nil
}
