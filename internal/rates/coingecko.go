package rates

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// coingeckoProvider reads CoinGecko's simple price,
// GET /api/v3/simple/price?ids=bitcoin,tether,usd-coin&vs_currencies=usd,eur
// &include_last_updated_at=true&precision=full: {"bitcoin":{"usd":67001.23,
// "eur":61799.5,"last_updated_at":1733230000},...}. Prices are JSON
// numbers, read as their literal text (json.Number), never as floats.
type coingeckoProvider struct{ httpGetter }

func (c *coingeckoProvider) Name() string { return CoinGecko }

// coingeckoIDs maps currency codes to CoinGecko's coin ids.
var coingeckoIDs = map[string]string{"BTC": "bitcoin", "USDT": "tether", "USDC": "usd-coin"}

func (c *coingeckoProvider) Fetch(ctx context.Context, pairs []Pair) ([]Observation, error) {
	var ids, vs []string
	seen := map[string]bool{}
	for _, p := range pairs {
		id, ok := coingeckoIDs[p.Base]
		if !ok {
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
		q := strings.ToLower(p.Quote)
		if !seen["vs:"+q] {
			seen["vs:"+q] = true
			vs = append(vs, q)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	body, err := c.get(ctx, "/api/v3/simple/price?ids="+strings.Join(ids, ",")+"&vs_currencies="+strings.Join(vs, ",")+
		"&include_last_updated_at=true&precision=full")
	if err != nil {
		return nil, err
	}
	return parseCoinGecko(body, pairs)
}

// parseCoinGecko reads a simple price response.
func parseCoinGecko(body []byte, pairs []Pair) ([]Observation, error) {
	var resp map[string]map[string]json.RawMessage
	if err := decodeStrict(body, &resp); err != nil {
		return nil, err
	}
	var out []Observation
	for _, p := range pairs {
		coin, ok := resp[coingeckoIDs[p.Base]]
		if !ok {
			continue
		}
		raw, ok := coin[strings.ToLower(p.Quote)]
		if !ok || string(raw) == "null" {
			continue
		}
		r, err := parseJSONPrice(raw)
		if err != nil {
			return nil, fmt.Errorf("coingecko %s: %w", p, err)
		}
		var sec json.Number
		if ts, ok := coin["last_updated_at"]; ok {
			if err := json.Unmarshal(ts, &sec); err != nil {
				return nil, fmt.Errorf("coingecko %s: last_updated_at: %w", p, err)
			}
		}
		n, err := sec.Int64()
		if err != nil || n <= 0 || n > 1<<40 {
			return nil, fmt.Errorf("coingecko %s: last_updated_at %q is not Unix seconds", p, truncate(sec.String()))
		}
		out = append(out, Observation{Pair: p, Rate: r, At: time.Unix(n, 0).UTC()})
	}
	return out, nil
}
