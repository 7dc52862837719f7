package gateway

import (
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
)

// TestNoteScopeUse checks per-scope use is recorded on both engines, at
// most once per key and scope per minute, and that UnusedScopes names the
// scopes a key holds but has not used, in the key's (sorted) order.
func TestNoteScopeUse(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			if _, err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			var clk testClock // frozen: times read back compare exactly
			t0 := time.Now()
			svc := New(Config{DB: db, Outbox: eventsOnly{}, Now: func() time.Time { return t0.Add(time.Duration(clk.off.Load())) }})
			ctx := operatorCtx(t)
			st, err := svc.CreateStore(ctx, StoreParams{Name: "shop",
				Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := svc.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:read", "invoices:write", "events:read"}})
			if err != nil {
				t.Fatal(err)
			}
			k := ck.Key
			stored := func(s cryptopay.Scope) time.Time {
				t.Helper()
				uses, err := svc.db.ListKeyScopeUse(t.Context(), k.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range uses {
					if u.Scope == s {
						return u.LastUsedAt
					}
				}
				return time.Time{}
			}

			first := svc.Now()
			svc.NoteScopeUse(t.Context(), k, cryptopay.ScopeInvoicesRead)
			if got := stored(cryptopay.ScopeInvoicesRead); !got.Equal(first) {
				t.Fatalf("first use stored %v, want %v", got, first)
			}
			clk.off.Add(int64(30 * time.Second))
			svc.NoteScopeUse(t.Context(), k, cryptopay.ScopeInvoicesRead)
			if got := stored(cryptopay.ScopeInvoicesRead); !got.Equal(first) {
				t.Errorf("a use 30s later was written (%v): reads must not become writes", got)
			}
			svc.NoteScopeUse(t.Context(), k, cryptopay.ScopeEventsRead) // another scope is not throttled by the first
			if stored(cryptopay.ScopeEventsRead).IsZero() {
				t.Error("a second scope's first use was not written")
			}
			clk.off.Add(int64(31 * time.Second))
			later := svc.Now()
			svc.NoteScopeUse(t.Context(), k, cryptopay.ScopeInvoicesRead)
			if got := stored(cryptopay.ScopeInvoicesRead); !got.Equal(later) {
				t.Errorf("a use a minute later stored %v, want %v", got, later)
			}

			for _, tc := range []struct {
				name  string
				since time.Time
				want  []cryptopay.Scope
			}{
				{"window covering every use", first, []cryptopay.Scope{cryptopay.ScopeInvoicesWrite}},
				{"window after the events use", first.Add(31 * time.Second), []cryptopay.Scope{cryptopay.ScopeEventsRead, cryptopay.ScopeInvoicesWrite}},
				{"window after every use", later.Add(time.Second), []cryptopay.Scope{cryptopay.ScopeEventsRead, cryptopay.ScopeInvoicesRead, cryptopay.ScopeInvoicesWrite}},
			} {
				got, err := UnusedScopes(t.Context(), svc.db, k, tc.since)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Errorf("%s: unused %v, want %v", tc.name, got, tc.want)
					continue
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("%s: unused %v, want %v", tc.name, got, tc.want)
					}
				}
			}
		})
	}
}
