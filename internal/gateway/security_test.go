package gateway

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha512"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

type opener struct {
	name string
	open func(t *testing.T) storage.DB
}

// engines returns unmigrated databases (newTestService migrates them):
// SQLite always, PostgreSQL when testdb.PostgresEnv is set.
func engines() []opener {
	es := []opener{{"sqlite", func(t *testing.T) storage.DB { return testdb.OpenSQLite(t) }}}
	if os.Getenv(testdb.PostgresEnv) == "" {
		return es
	}
	return append(es, opener{"postgres", func(t *testing.T) storage.DB { return testdb.OpenPostgres(t) }})
}

type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func regtestVpub(t testing.TB, n uint32) string {
	seed, err := pbkdf2.Key(sha512.New, "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", []byte("mnemonic"), 2048, 64)
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := account.DeriveAccountFromSeed(seed, account.Regtest, n)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func newTestService(t *testing.T, open func(t *testing.T) storage.DB) (*Service, *testClock) {
	db := open(t)
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk := &testClock{}
	return New(Config{DB: db, Outbox: eventsOnly{}, Now: clk.now}), clk
}

func operatorCtx(t *testing.T) context.Context {
	return WithActor(t.Context(), Actor{Operator: OperatorActor})
}

// TestAuditTrail drives every audited action of the service and checks
// the log holds exactly what happened, with its actor, and verifies.
func TestAuditTrail(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			svc, clk := newTestService(t, e.open)
			ctx := operatorCtx(t)
			st, err := svc.CreateStore(ctx, StoreParams{Name: "shop", AllowPII: false,
				Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := svc.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write", "invoices:read", "keys:write"}})
			if err != nil {
				t.Fatal(err)
			}
			ipA, ipB := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
			// The key's first use, a use from the same address, one from a new one.
			for _, ip := range []netip.Addr{ipA, ipA, ipB} {
				if _, err := svc.Authenticate(t.Context(), ck.Secret, ip); err != nil {
					t.Fatal(err)
				}
			}
			for range 3 {
				_, _ = svc.Authenticate(t.Context(), cryptopay.NewAPIKeySecret(false), ipA)
			}
			_, _ = svc.Authenticate(t.Context(), "garbage", ipB)
			if n, err := svc.FlushAuthFailures(t.Context(), false); err != nil || n != 0 {
				t.Fatalf("flush inside the window wrote %d, %v; want 0", n, err)
			}
			clk.off.Add(int64(authAggWindow))
			if n, err := svc.FlushAuthFailures(t.Context(), false); err != nil || n != 2 {
				t.Fatalf("flush after the window wrote %d, %v; want 2 (one per reason and address)", n, err)
			}
			apiCtx := WithActor(t.Context(), Actor{KeyID: ck.Key.ID, IP: "192.0.2.1", RequestID: "req_1"})
			inv, err := svc.CreateInvoice(apiCtx, ck.Key, InvoiceParams{OrderID: "o-1", Amount: "0.001", Currency: "BTC",
				CustomerReference: "user_123", Metadata: map[string]string{"sku": "A-1"}})
			if err != nil {
				t.Fatal(err)
			}
			red, err := svc.RedactInvoice(apiCtx, ck.Key, inv.ID)
			if err != nil || red.CustomerReference != "" || red.Metadata != nil || red.Amount.Cmp(inv.Amount) != 0 {
				t.Fatalf("redact = %+v, %v; want reference and metadata gone, amount kept", red, err)
			}
			rot, err := svc.RotateKey(apiCtx, ck.Key, ck.Key.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.RevokeKey(ctx, nil, rot.Key.ID); err != nil {
				t.Fatal(err)
			}
			// A refused action records nothing.
			if _, err := svc.RevokeKey(ctx, nil, rot.Key.ID); err == nil {
				t.Fatal("second revoke succeeded")
			}

			entries, _, err := svc.ListAuditEntries(t.Context(), nil, AuditQuery{StoreID: st.ID, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			slices.Reverse(entries)
			type row struct{ action, actor, target, ip string }
			var got []row
			for _, e := range entries {
				got = append(got, row{e.Action, e.Actor, e.Target, e.SourceIP})
			}
			want := []row{
				{AuditStoreCreated, "operator", st.ID, ""},
				{AuditKeyCreated, "operator", ck.Key.ID, ""},
				{AuditKeyNewIP, ck.Key.ID, ck.Key.ID, "192.0.2.1"},
				{AuditKeyNewIP, ck.Key.ID, ck.Key.ID, "198.51.100.2"},
				{AuditInvoiceRedacted, ck.Key.ID, inv.ID, "192.0.2.1"},
				{AuditKeyRotated, ck.Key.ID, ck.Key.ID, "192.0.2.1"},
				{AuditKeyRevoked, "operator", rot.Key.ID, ""},
			}
			if !slices.Equal(got, want) {
				t.Errorf("store audit log:\n got %v\nwant %v", got, want)
			}
			if entries[4].RequestID != "req_1" {
				t.Errorf("redaction request id = %q, want req_1", entries[4].RequestID)
			}
			// Failures of unknown keys belong to no store.
			fails, _, err := svc.ListAuditEntries(t.Context(), nil, AuditQuery{Action: AuditAuthFailed})
			if err != nil || len(fails) != 2 {
				t.Fatalf("auth failure entries = %d, %v; want 2", len(fails), err)
			}
			counts := map[string]string{}
			for _, f := range fails {
				counts[f.Target] = f.Details
			}
			if d := counts["192.0.2.1"]; !contains(d, `"count":3`) || !contains(d, `"reason":"unknown"`) {
				t.Errorf("failures from 192.0.2.1: %s; want 3 unknown", d)
			}
			if d := counts["198.51.100.2"]; !contains(d, `"count":1`) || !contains(d, `"reason":"malformed"`) {
				t.Errorf("failures from 198.51.100.2: %s; want 1 malformed", d)
			}
			if n, err := storage.VerifyAudit(t.Context(), svc.DB()); err != nil || n != 9 {
				t.Errorf("verify = %d, %v; want 9 entries intact", n, err)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
