package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// priceProvider prices BTC_USD at a fixed decimal, or fails when down.
type priceProvider struct {
	name, usd string
	down      atomic.Bool
}

func (p *priceProvider) Name() string { return p.name }
func (p *priceProvider) Fetch(context.Context, []rates.Pair) ([]rates.Observation, error) {
	if p.down.Load() {
		return nil, errors.New("connection refused")
	}
	r, _ := new(big.Rat).SetString(p.usd)
	return []rates.Observation{{Pair: rates.Pair{Base: "BTC", Quote: "USD"}, Rate: r, At: time.Now().Add(-5 * time.Second)}}, nil
}

// TestInvoiceLocksTheRate: a fiat invoice is priced at the aggregate's
// median lowered by the store's spread, and the rate, its sources, its
// time and the spread are stored and carried by invoice.created; when no
// reliable rate exists a fiat invoice is refused with rates_unavailable
// and a BTC invoice is not.
func TestInvoiceLocksTheRate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		a, b := &priceProvider{name: "kraken", usd: "64000.00"}, &priceProvider{name: "coinbase", usd: "64100.00"}
		agg := rates.New(rates.Config{Providers: []rates.Provider{a, b}, MaxAge: time.Minute})
		agg.Refresh(t.Context())
		var events []cryptopay.Event
		svc := New(Config{DB: db, Outbox: recordingOutbox{&events}, Rates: agg})
		for _, tc := range []struct {
			name      string
			spreadBP  int
			wantRate  string
			wantDue   string // ceil(100.00 / rate) in BTC, from first principles
			wantShown string
		}{
			{"no spread", 0, "64050.00000000", "0.00156129", "0.00"},     // 100 / 64050 = 0.0015612802…, rounded up
			{"2.5% spread", 250, "62448.75000000", "0.00160132", "2.50"}, // 64050 × 0.975; 100 / 62448.75 = 0.0016013130…, rounded up
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, err := svc.CreateStore(t.Context(), StoreParams{Name: tc.name, RateSpreadBasisPoints: tc.spreadBP,
					Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, uint32(20+tc.spreadBP))}}})
				if err != nil {
					t.Fatal(err)
				}
				ck, err := svc.CreateKey(t.Context(), KeyParams{StoreID: st.ID, Scopes: []string{"invoices:write"}})
				if err != nil {
					t.Fatal(err)
				}
				inv, err := svc.CreateInvoice(t.Context(), ck.Key, InvoiceParams{OrderID: "o", Amount: "100.00", Currency: "USD"})
				if err != nil {
					t.Fatal(err)
				}
				got, err := db.GetInvoice(t.Context(), inv.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Rate != tc.wantRate || !slices.Equal(got.RateSources, []string{"coinbase", "kraken"}) || got.RateAt == nil ||
					got.RateSpreadBasisPoints != tc.spreadBP || cryptopay.FormatAmount(got.CryptoDue, 8) != tc.wantDue {
					t.Errorf("stored: rate %s from %v at %v, spread %d, due %s", got.Rate, got.RateSources, got.RateAt, got.RateSpreadBasisPoints, cryptopay.FormatAmount(got.CryptoDue, 8))
				}
				if got.RequiredConfirmations != 12 { // $100.00 in the USD policy: the guide's 100–1,000 tier
					t.Errorf("required confirmations %d, want 12", got.RequiredConfirmations)
				}
				var d cryptopay.InvoiceEventData
				if err := json.Unmarshal(events[len(events)-1].Data, &d); err != nil {
					t.Fatal(err)
				}
				if d.Rate == nil || *d.Rate != tc.wantRate || d.RateSpread == nil || *d.RateSpread != tc.wantShown || d.RateAt == nil || !d.RateAt.Equal(*got.RateAt) {
					t.Errorf("invoice.created data: %+v", d)
				}
			})
		}
		for _, bp := range []int{-1, 2001} {
			_, err := svc.CreateStore(t.Context(), StoreParams{Name: "bad", RateSpreadBasisPoints: bp,
				Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, 90)}}})
			if e, ok := errors.AsType[*cryptopay.Error](err); !ok || e.Param != "rate_spread" {
				t.Errorf("spread %d bp: %v, want refused naming rate_spread", bp, err)
			}
		}

		// A gateway whose providers have been down since it started.
		a.down.Store(true)
		b.down.Store(true)
		stale := rates.New(rates.Config{Providers: []rates.Provider{a, b}})
		stale.Refresh(t.Context())
		svc2 := New(Config{DB: db, Outbox: recordingOutbox{&events}, Rates: stale})
		st, err := svc2.CreateStore(t.Context(), StoreParams{Name: "down", Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, 91)}}})
		if err != nil {
			t.Fatal(err)
		}
		ck, _ := svc2.CreateKey(t.Context(), KeyParams{StoreID: st.ID, Scopes: []string{"invoices:write"}})
		_, err = svc2.CreateInvoice(t.Context(), ck.Key, InvoiceParams{OrderID: "usd", Amount: "100.00", Currency: "USD"})
		if cryptopay.ErrorCode(err) != cryptopay.CodeRatesUnavailable {
			t.Fatalf("USD invoice without rates: %v, want rates_unavailable", err)
		}
		if inv, err := svc2.CreateInvoice(t.Context(), ck.Key, InvoiceParams{OrderID: "btc", Amount: "0.001", Currency: "BTC"}); err != nil || inv.Rate != "" || inv.RateSources != nil {
			t.Fatalf("BTC invoice without rates: %+v, %v", inv, err)
		}
	})
}

// recordingOutbox keeps the events appended, in order.
type recordingOutbox struct{ events *[]cryptopay.Event }

func (o recordingOutbox) Append(ctx context.Context, tx storage.Tx, e *cryptopay.Event) error {
	if err := tx.CreateEvent(ctx, e); err != nil {
		return err
	}
	*o.events = append(*o.events, *e)
	return nil
}
