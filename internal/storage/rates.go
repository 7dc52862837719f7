package storage

import (
	"context"
	"time"
)

// RateRecord is one price from one exchange-rate provider's last good
// refresh, kept so a restarted gateway does not start without rates.
type RateRecord struct {
	Source     string // provider name, e.g. "kraken"
	Pair       string // "BTC_USD"
	Rate       string // exact rational as big.Rat's RatString ("67000" or "134001/2")
	ObservedAt time.Time
	FetchedAt  time.Time // when the refresh holding it arrived
}

// RatesReader reads the kept rates.
type RatesReader interface {
	// ListRateSnapshots returns every kept price, by source then pair.
	ListRateSnapshots(ctx context.Context) ([]RateRecord, error)
}

// RatesTx writes them.
type RatesTx interface {
	// ReplaceRateSnapshot replaces source's kept prices with rs, one
	// refresh: prices of different refreshes are never mixed (a pair
	// crossed through USD must have both legs from one refresh).
	ReplaceRateSnapshot(ctx context.Context, source string, rs []RateRecord) error
}
