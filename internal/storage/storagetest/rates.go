package storagetest

import (
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// testRateSnapshots: each source's kept prices are replaced whole, never
// merged with an older refresh, and read back exactly (rates as exact
// rationals, times to the microsecond).
func testRateSnapshots(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	if got, err := db.ListRateSnapshots(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v, %v", got, err)
	}
	at := us(base.Add(1500 * time.Microsecond))
	first := []storage.RateRecord{
		{Source: "kraken", Pair: "BTC_USD", Rate: "670121/10", ObservedAt: at, FetchedAt: at.Add(time.Second)},
		{Source: "kraken", Pair: "USD_JPY", Rate: "150", ObservedAt: at, FetchedAt: at.Add(time.Second)},
	}
	other := []storage.RateRecord{{Source: "coinbase", Pair: "BTC_USD", Rate: "134011011/2000", ObservedAt: at.Add(time.Minute), FetchedAt: at.Add(time.Minute)}}
	inTx(t, db, func(tx storage.Tx) error { return tx.ReplaceRateSnapshot(ctx, "kraken", first) })
	inTx(t, db, func(tx storage.Tx) error { return tx.ReplaceRateSnapshot(ctx, "coinbase", other) })
	got, err := db.ListRateSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "after two sources", []storage.RateRecord{other[0], first[0], first[1]}, got)

	// kraken's next refresh lacks USD_JPY: its old USD_JPY must go.
	second := []storage.RateRecord{{Source: "kraken", Pair: "BTC_USD", Rate: "67013", ObservedAt: at.Add(time.Hour), FetchedAt: at.Add(time.Hour)}}
	inTx(t, db, func(tx storage.Tx) error { return tx.ReplaceRateSnapshot(ctx, "kraken", second) })
	got, err = db.ListRateSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "after kraken's second refresh", []storage.RateRecord{other[0], second[0]}, got)
}
