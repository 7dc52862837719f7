package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
)

// TestKeyScopes drives real API requests through the handler against a
// real database and checks the least-privilege item warns about exactly
// the scopes a key holds but has not used in 30 days.
func TestKeyScopes(t *testing.T) {
	ctx := context.Background()
	var off atomic.Int64
	t0 := time.Now()
	clock := func() time.Time { return t0.Add(time.Duration(off.Load())) }
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cryptopay.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs, _ := rates.ParseStatic("")
	svc := gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs, Now: clock})
	api := httpapi.New(httpapi.Config{Service: svc}).Handler()
	st, err := svc.CreateStore(ctx, gateway.StoreParams{Name: "Shop",
		Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub}}})
	if err != nil {
		t.Fatal(err)
	}
	newKey := func(scopes ...string) *gateway.CreatedKey {
		t.Helper()
		k, err := svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Name: "k", Scopes: scopes, TTL: 365 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	get := func(secret, path string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	check := func(now time.Time) Result {
		return checkKeyScopes(ctx, &Input{DB: db, Now: now})
	}

	// Every key is younger than 30 days: nothing to judge.
	reader := newKey("invoices:read", "events:read")
	broad := newKey("invoices:read", "invoices:write", "events:read", "keys:write")
	if r := check(clock()); r.Status != Pass {
		t.Fatalf("young keys: %+v", r)
	}

	off.Store(int64(35 * 24 * time.Hour))
	get(reader.Secret, "/v1/invoices")
	get(reader.Secret, "/v1/events")
	get(broad.Secret, "/v1/invoices")
	now := clock().Add(time.Hour)

	cases := []struct {
		name     string
		prepare  func()
		want     Status
		contains []string
		absent   []string
	}{
		{"broad key warned with its unused scopes", nil, Warn,
			[]string{broad.Key.ID, "events:read", "invoices:write", "keys:write"}, []string{reader.Key.ID}},
		{"every scope used: pass", func() {
			get(broad.Secret, "/v1/events")
			for _, sc := range broad.Key.Scopes { // the write scopes, as a real write would
				svc.NoteScopeUse(ctx, broad.Key, sc)
			}
		}, Pass, nil, nil},
		{"uses older than 30 days count as unused", func() { now = clock().Add(31 * 24 * time.Hour) }, Warn,
			[]string{reader.Key.ID, broad.Key.ID}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prepare != nil {
				tc.prepare()
			}
			r := check(now)
			if r.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Detail, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(r.Detail, s) {
					t.Errorf("detail %q lacks %q", r.Detail, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(r.Detail, s) {
					t.Errorf("detail %q names %q", r.Detail, s)
				}
			}
			if tc.want == Warn && (!strings.Contains(r.Fix, "cryptopay keys create") || !strings.Contains(r.Fix, "cryptopay keys revoke")) {
				t.Errorf("fix %q does not say how to replace the key", r.Fix)
			}
		})
	}
	// The reader's unused-scope list names no scope it used.
	if r := check(clock().Add(time.Hour)); strings.Contains(r.Detail, reader.Key.ID) {
		t.Errorf("a key using all its scopes is named: %s", r.Detail)
	}
}

// TestKeyScopesBeforeRecording checks a key used recently but before
// per-scope use was recorded gets no verdict rather than a false warning.
func TestKeyScopesBeforeRecording(t *testing.T) {
	s := newSetup(t, nil, nil)
	ctx := context.Background()
	s.in.Now = time.Now().Add(40 * 24 * time.Hour)
	if _, err := s.in.DB.SQL().ExecContext(ctx, `UPDATE api_keys SET last_used_at = ?`, s.in.Now.Add(-time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	r := checkKeyScopes(ctx, s.in)
	if r.Status != Pass || !strings.Contains(r.Detail, "no per-scope record yet") {
		t.Errorf("recently used key without records: %+v", r)
	}
}
