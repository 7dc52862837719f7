package gateway

import (
	"testing"
	"time"
)

// TestRetentionRedactsOnlyPastRetention: personal fields of invoices older
// than the store's personal retention are redacted, younger ones kept,
// money facts never touched; each batch is audited and a second run has
// nothing to do.
func TestRetentionRedactsOnlyPastRetention(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			f := newComplianceFixture(t, e.open)
			ctx := operatorCtx(t)
			if _, err := f.svc.SetCompliance(ctx, f.store.ID, ComplianceParams{PersonalRetentionDays: 30}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			f.at(start)
			old, err := f.create(t, "10.00", "user_old")
			if err != nil {
				t.Fatal(err)
			}
			f.at(start.AddDate(0, 0, 20))
			young, err := f.create(t, "10.00", "user_young")
			if err != nil {
				t.Fatal(err)
			}
			f.at(start.AddDate(0, 0, 31))
			if n, err := f.svc.RunRetention(ctx); err != nil || n != 1 {
				t.Fatalf("retention redacted %d (%v), want 1", n, err)
			}
			got, err := f.svc.GetInvoice(ctx, nil, old.ID)
			if err != nil || got.CustomerReference != "" || got.Amount.Cmp(old.Amount) != 0 || got.Address != old.Address {
				t.Fatalf("old invoice after retention: %+v %v", got, err)
			}
			if got, err := f.svc.GetInvoice(ctx, nil, young.ID); err != nil || got.CustomerReference != "user_young" {
				t.Fatalf("young invoice lost its reference: %+v %v", got, err)
			}
			if n, err := f.svc.RunRetention(ctx); err != nil || n != 0 {
				t.Fatalf("second run redacted %d (%v), want 0", n, err)
			}
			es, _, err := f.svc.ListAuditEntries(ctx, nil, AuditQuery{StoreID: f.store.ID, Action: AuditRetentionRedacted})
			if err != nil || len(es) != 1 {
				t.Fatalf("retention audited %d times (%v), want once", len(es), err)
			}
			f.at(start.AddDate(0, 0, 51))
			if n, err := f.svc.RunRetention(ctx); err != nil || n != 1 {
				t.Fatalf("later run redacted %d (%v), want the young one", n, err)
			}
		})
	}
}
