package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestInvoiceListFilters: each filter of the invoice list (flag, amount,
// date range, combined with status) shows the invoices it names and
// hides the others, served by storage in one page rather than by
// scanning pages and dropping rows.
func TestInvoiceListFilters(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		ck, err := w.svc.CreateKey(w.opCtx(), gateway.KeyParams{StoreID: w.a.ID, Name: "shop", Scopes: []string{"invoices:write"}})
		if err != nil {
			t.Fatal(err)
		}
		create := func(order, amount string) *cryptopay.Invoice {
			inv, err := w.svc.CreateInvoice(context.Background(), ck.Key, gateway.InvoiceParams{OrderID: order, Amount: amount, Currency: "BTC"})
			if err != nil {
				t.Fatal(err)
			}
			return inv
		}
		cheap, dear, marked := create("cheap", "0.0015"), create("dear", "0.25"), create("marked", "0.0015")
		if _, err := w.svc.MarkInvoice(w.opCtx(), nil, marked.ID, cryptopay.StatusInvalid, "customer cancelled"); err != nil {
			t.Fatal(err)
		}
		b := w.browser()
		b.signIn("staff@example.com", w.user("staff@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleStaff}))
		today := time.Now().UTC().Format(time.DateOnly)
		list := "/dashboard/stores/" + w.a.ID + "/invoices?"
		all := []*cryptopay.Invoice{cheap, dear, marked}
		cases := []struct {
			name, query string
			want        []*cryptopay.Invoice
		}{
			{"no filter", "", all},
			{"flag", "flag=marked", []*cryptopay.Invoice{marked}},
			{"flag nobody has", "flag=double_spent", nil},
			{"amount", "amount=0.0015", []*cryptopay.Invoice{cheap, marked}},
			{"amount written with a trailing zero", "amount=0.00150", []*cryptopay.Invoice{cheap, marked}},
			{"amount and status", "amount=0.0015&status=new", []*cryptopay.Invoice{cheap}},
			{"amount nobody asked", "amount=0.0016", nil},
			{"today", "from=" + today + "&to=" + today, all},
			{"long ago", "from=2000-01-01&to=2000-01-31", nil},
			{"from today, with a flag", "from=" + today + "&flag=marked", []*cryptopay.Invoice{marked}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				code, body, _ := b.get(list + tc.query)
				if code != http.StatusOK {
					t.Fatalf("GET ?%s = %d", tc.query, code)
				}
				for _, inv := range all {
					want := false
					for _, x := range tc.want {
						want = want || x.ID == inv.ID
					}
					if got := strings.Contains(body, inv.ID); got != want {
						t.Errorf("?%s lists %s (%s): %v, want %v", tc.query, inv.ID, inv.OrderID, got, want)
					}
				}
			})
		}
		for _, bad := range []string{"amount=-1", "amount=1e3", "flag=lost", "from=yesterday"} {
			if code, _, _ := b.get(list + bad); code != http.StatusBadRequest {
				t.Errorf("GET ?%s = %d, want 400", bad, code)
			}
		}
	})
}
