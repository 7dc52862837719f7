package gateway

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/shred"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// complianceFixture is a service with a subject key vault, a USD test
// store, a key to create its invoices and the alerts it raised.
type complianceFixture struct {
	svc    *Service
	clk    *testClock
	store  *cryptopay.Store
	key    *cryptopay.APIKey
	vault  *shred.Vault
	mu     sync.Mutex
	alerts []string
}

func newComplianceFixture(t *testing.T, open func(t *testing.T) storage.DB) *complianceFixture {
	t.Helper()
	svc, clk := newTestService(t, open)
	kr, err := fieldcrypt.NewKeyring(fieldcrypt.Key{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	v, err := shred.Open(t.Context(), filepath.Join(t.TempDir(), "vault.db"), kr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	rs, err := rates.ParseStatic("BTC_USD=50000.00")
	if err != nil {
		t.Fatal(err)
	}
	svc.rates = rs
	f := &complianceFixture{svc: svc, clk: clk, vault: v}
	svc.SetVault(v)
	svc.SetNotifier(func(_ context.Context, sev, title, text string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.alerts = append(f.alerts, sev+": "+title+": "+text)
	})
	ctx := operatorCtx(t)
	f.store, err = svc.CreateStore(ctx, StoreParams{Name: "shop", DefaultCurrency: "USD", AllowPII: true,
		Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, KeyParams{StoreID: f.store.ID, Name: "shop", Scopes: []string{"invoices:write", "invoices:read"}})
	if err != nil {
		t.Fatal(err)
	}
	f.key = ck.Key
	return f
}

var orderSeq atomic.Int64

// create makes a USD invoice (priced in the store's currency, so its
// value is its price exactly).
func (f *complianceFixture) create(t *testing.T, amount, ref string) (*cryptopay.Invoice, error) {
	t.Helper()
	return f.svc.CreateInvoice(t.Context(), f.key, InvoiceParams{
		OrderID: fmt.Sprintf("o-%d", orderSeq.Add(1)), Amount: amount, Currency: "USD", Network: string(cryptopay.NetworkBitcoinRegtest),
		CustomerReference: ref})
}

// at sets the service clock to t (plus the few milliseconds a test runs).
func (f *complianceFixture) at(t time.Time) { f.clk.off.Store(int64(time.Until(t))) }

// limitParam returns the limit an error names, "" for success, and fails
// the test for any other error.
func limitParam(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	e, ok := errors.AsType[*cryptopay.Error](err)
	if !ok || e.Code != cryptopay.CodeLimitExceeded {
		t.Fatalf("want a limit_exceeded error or success, got %v", err)
	}
	if !strings.Contains(e.Message, e.Param) {
		t.Fatalf("message %q does not name the limit %q", e.Message, e.Param)
	}
	return e.Param
}

// TestLimitsAtAndAcrossBoundaries: each limit admits exactly up to its
// amount (the boundary is inclusive), refuses one cent more naming the
// limit, and a new UTC day or month starts from zero. Oracle: the sums
// written in each step, by hand.
func TestLimitsAtAndAcrossBoundaries(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			f := newComplianceFixture(t, e.open)
			ctx := operatorCtx(t)
			if _, err := f.svc.SetCompliance(ctx, f.store.ID, ComplianceParams{MaxInvoice: "100.00", Daily: "250.00",
				Monthly: "400.00", CustomerDaily: "60.00"}); err != nil {
				t.Fatal(err)
			}
			// 23:59:30 on the last day of a month, so the steps cross a day
			// and a month.
			f.at(time.Date(2026, 1, 31, 23, 59, 30, 0, time.UTC))
			steps := []struct {
				name, amount, ref, want string
				next                    time.Time
			}{
				{name: "max invoice exactly", amount: "100.00"},
				{name: "max invoice plus a cent", amount: "100.01", want: "max_invoice"},
				{name: "daily to 200", amount: "100.00"},
				{name: "daily exactly 250", amount: "50.00"},
				{name: "daily past by a cent", amount: "0.01", want: "daily"},
				{name: "next day starts at zero", amount: "100.00", next: time.Date(2026, 2, 1, 0, 0, 1, 0, time.UTC)},
				{name: "customer exactly 60", amount: "60.00", ref: "user_a"},
				{name: "customer past by a cent", amount: "0.01", ref: "user_a", want: "customer_daily"},
				{name: "another customer", amount: "60.00", ref: "user_b"},
				// February so far: 100 + 60 + 60 = 220 of daily 250.
				{name: "daily refuses before customer", amount: "40.00", ref: "user_c", want: "daily"},
				{name: "next day again", amount: "100.00", next: time.Date(2026, 2, 2, 0, 0, 1, 0, time.UTC)},
				// February: 320 of monthly 400.
				{name: "monthly exactly 400", amount: "80.00"},
				{name: "monthly past by a cent", amount: "0.01", next: time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC), want: "monthly"},
				{name: "a new month starts at zero", amount: "100.00", next: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
			}
			for _, s := range steps {
				if !s.next.IsZero() {
					f.at(s.next)
				}
				_, err := f.create(t, s.amount, s.ref)
				if got := limitParam(t, err); got != s.want {
					t.Fatalf("%s: got limit %q, want %q (err %v)", s.name, got, s.want, err)
				}
			}
			// A refused invoice changed nothing: January 31 holds 250.00.
			day := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
			sum, err := f.svc.db.SumLimitUsage(t.Context(), f.store.ID, "", day, day.AddDate(0, 0, 1))
			if err != nil || sum.String() != "25000" {
				t.Fatalf("Jan 31 usage = %v (%v), want 25000 cents", sum, err)
			}
		})
	}
}

// TestLimitsUnderConcurrentCreation: 30 invoices of 100.00 raced against
// a daily limit of 1000.00: exactly 10 are created on either engine, in
// each of four rounds. (Without the row lock on PostgreSQL it fails.)
func TestLimitsUnderConcurrentCreation(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			f := newComplianceFixture(t, e.open)
			if _, err := f.svc.SetCompliance(operatorCtx(t), f.store.ID, ComplianceParams{Daily: "1000.00"}); err != nil {
				t.Fatal(err)
			}
			// Several rounds, a day apart: one race may happen to serialise.
			for round := range 4 {
				f.at(time.Date(2026, 5, 1+round, 12, 0, 0, 0, time.UTC))
				var ok, refused atomic.Int64
				var wg sync.WaitGroup
				for range 30 {
					wg.Go(func() {
						_, err := f.create(t, "100.00", "")
						switch {
						case err == nil:
							ok.Add(1)
						case cryptopay.ErrorCode(err) == cryptopay.CodeLimitExceeded:
							refused.Add(1)
						default:
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if ok.Load() != 10 || refused.Load() != 20 {
					t.Fatalf("created %d, refused %d; want 10 and 20", ok.Load(), refused.Load())
				}
			}
		})
	}
}

// TestLimitWarningAndAudit: the warning alert fires once, on the invoice
// that reaches the configured share; settings changes are audited with
// the values before and after; bad settings are refused naming the field.
func TestLimitWarningAndAudit(t *testing.T) {
	f := newComplianceFixture(t, engines()[0].open)
	ctx := operatorCtx(t)
	if _, err := f.svc.SetCompliance(ctx, f.store.ID, ComplianceParams{Daily: "100.00", WarnPercent: 50}); err != nil {
		t.Fatal(err)
	}
	for _, amt := range []string{"30.00", "20.00", "10.00"} { // 30, 50 (warn), 60
		if _, err := f.create(t, amt, ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.alerts) != 1 || !strings.Contains(f.alerts[0], "50.00 USD of its 100.00 USD") {
		t.Fatalf("alerts = %q, want one warning at 50.00 of 100.00", f.alerts)
	}
	if _, err := f.svc.SetCompliance(ctx, f.store.ID, ComplianceParams{Daily: "200.00"}); err != nil {
		t.Fatal(err)
	}
	entries, _, err := f.svc.ListAuditEntries(ctx, nil, AuditQuery{StoreID: f.store.ID, Action: AuditComplianceUpdated})
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit entries = %d (%v), want 2", len(entries), err)
	}
	if d := string(entries[0].Details); !strings.Contains(d, `"daily":"100.00"`) || !strings.Contains(d, `"daily":"200.00"`) {
		t.Fatalf("latest audit details %s lack before and after", d)
	}
	for _, c := range []struct {
		name  string
		p     ComplianceParams
		param string
	}{
		{"negative", ComplianceParams{Daily: "-1"}, "daily"},
		{"too many decimals", ComplianceParams{MaxInvoice: "1.001"}, "max_invoice"},
		{"warn above 100", ComplianceParams{WarnPercent: 101}, "warn_percent"},
		{"short financial retention", ComplianceParams{FinancialRetentionDays: 30}, "financial_retention_days"},
	} {
		_, err := f.svc.SetCompliance(ctx, f.store.ID, c.p)
		if e, ok := errors.AsType[*cryptopay.Error](err); !ok || e.Param != c.param {
			t.Errorf("%s: got %v, want an error naming %s", c.name, err, c.param)
		}
	}
}
