package dashboard_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// hold records on inv a payment of its whole amount from a blocked sender,
// as the watcher does (status held, flag held), and returns its id.
func (w *world) hold(inv *cryptopay.Invoice) string {
	w.t.Helper()
	ctx := context.Background()
	id := cryptopay.NewID(cryptopay.PrefixPayment, time.Now())
	sum := sha256.Sum256([]byte(id))
	err := w.db.InTx(ctx, func(tx storage.Tx) error {
		locked, err := tx.LockInvoice(ctx, inv.ID)
		if err != nil {
			return err
		}
		if err := tx.CreatePayment(ctx, &cryptopay.Payment{ID: id, InvoiceID: inv.ID, TxID: hex.EncodeToString(sum[:]),
			Amount: inv.CryptoDue, FromAddress: "bcrt1qblocked", Status: cryptopay.PaymentHeld, SeenAt: time.Now()}); err != nil {
			return err
		}
		locked.Flags |= cryptopay.FlagHeld
		return tx.UpdateInvoice(ctx, locked)
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// TestReleaseHeldPayment: staff release a held payment from the invoice's
// page (reason and confirmation required, CSRF checked): the payment is
// pending and counted, the held flag is gone, the audit log names the
// user, and payment.released is in the timeline. A viewer is refused and
// offered no form; staff of store A cannot release store B's payment,
// through either store's address; the owner's security page links to the
// invoices flagged held.
func TestReleaseHeldPayment(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		inv, invB := w.invoice(w.a, "order-held"), w.invoice(w.b, "order-b")
		pid, pidB := w.hold(inv), w.hold(invB)
		page := "/dashboard/stores/" + w.a.ID + "/invoices/" + inv.ID
		release := page + "/payments/" + pid + "/release"
		good := url.Values{"reason": {"sender verified by phone"}, "confirm": {"yes"}}

		viewer := w.browser()
		viewer.signIn("viewer@example.com", w.user("viewer@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleViewer}))
		if _, body, _ := viewer.get(page); !strings.Contains(body, "held") || strings.Contains(body, "/release") {
			t.Error("the viewer's invoice page offers a release form")
		}
		if code, _, _ := viewer.post(release, good); code != http.StatusForbidden {
			t.Errorf("viewer releasing: %d, want 403", code)
		}

		staff := w.browser()
		staff.signIn("staff@example.com", w.user("staff@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleStaff}))
		code, body, _ := staff.get(page)
		if code != 200 || !strings.Contains(body, `action="`+release+`"`) || !strings.Contains(body, `name="confirm"`) {
			t.Fatalf("staff's invoice page: %d, release form shown: %v", code, strings.Contains(body, release))
		}
		cases := []struct {
			name   string
			path   string
			form   url.Values
			status int
			has    string
		}{
			{"no CSRF token", release, url.Values{"reason": {"x"}, "confirm": {"yes"}, "csrf": {"-"}}, 403, ""},
			{"no reason", release, url.Values{"reason": {" "}, "confirm": {"yes"}}, 400, "reason"},
			{"not confirmed", release, url.Values{"reason": {"x"}}, 400, "confirm"},
			{"unknown field", release, url.Values{"reason": {"x"}, "confirm": {"yes"}, "status": {"confirmed"}}, 400, "status"},
			{"store B's payment through store A", "/dashboard/stores/" + w.a.ID + "/invoices/" + invB.ID + "/payments/" + pidB + "/release", good, 404, ""},
			{"store B's payment through store B", "/dashboard/stores/" + w.b.ID + "/invoices/" + invB.ID + "/payments/" + pidB + "/release", good, 404, ""},
			{"a payment of another invoice", page + "/payments/" + pidB + "/release", good, 404, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				code, body, _ := staff.post(tc.path, tc.form)
				if code != tc.status || !strings.Contains(body, tc.has) {
					t.Errorf("POST %s = %d (has %q: %v), want %d", tc.path, code, tc.has, strings.Contains(body, tc.has), tc.status)
				}
			})
		}
		for _, id := range []string{inv.ID, invB.ID} {
			got, _ := w.svc.GetInvoice(ctx, nil, id)
			if got.Flags&cryptopay.FlagHeld == 0 || got.Payments[0].Status != cryptopay.PaymentHeld || got.AmountPaid.Sign() != 0 {
				t.Fatalf("refused releases changed invoice %s: %s %+v", id, got.Flags, got.Payments[0])
			}
		}

		if code, _, hdr := staff.post(release, good); code != http.StatusSeeOther || hdr.Get("Location") != page {
			t.Fatalf("release: %d to %q", code, hdr.Get("Location"))
		}
		got, _ := w.svc.GetInvoice(ctx, nil, inv.ID)
		if got.Flags&cryptopay.FlagHeld != 0 || got.Payments[0].Status != cryptopay.PaymentPending || got.AmountPaid.Cmp(inv.CryptoDue) != 0 ||
			!strings.HasPrefix(got.Payments[0].ReleasedBy, gateway.PrefixUser+"_") {
			t.Fatalf("after release: flags %s, paid %s, payment %+v", got.Flags, got.AmountPaid, got.Payments[0])
		}
		if _, body, _ := staff.get(page); !strings.Contains(body, "payment.released") || strings.Contains(body, `action="`+release+`"`) || !strings.Contains(body, "released ") {
			t.Error("the invoice page after the release lacks payment.released or still offers the form")
		}
		entries, _, err := w.svc.ListAuditEntries(ctx, nil, gateway.AuditQuery{StoreID: w.a.ID, Action: gateway.AuditPaymentReleased})
		if err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Actor, gateway.PrefixUser+"_") || entries[0].Target != pid {
			t.Errorf("audit of the release: %+v, %v; want one entry by the user", entries, err)
		}
		// Sent again (a reload): nothing more happens.
		if code, _, _ := staff.post(release, good); code != http.StatusSeeOther {
			t.Errorf("release sent again: %d", code)
		}
		if entries, _, _ := w.svc.ListAuditEntries(ctx, nil, gateway.AuditQuery{StoreID: w.a.ID, Action: gateway.AuditPaymentReleased}); len(entries) != 1 {
			t.Errorf("%d audit entries after sending the release twice, want 1", len(entries))
		}

		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		if err := w.db.InTx(ctx, func(tx storage.Tx) error {
			return tx.BlockAddress(ctx, &storage.BlockedAddress{ID: cryptopay.NewID("blk", time.Now()), Network: cryptopay.NetworkBitcoinRegtest,
				Address: "bcrt1qblocked", Reason: "double spent", Failures: 6, BlockedAt: time.Now(), BlockedBy: "system"})
		}); err != nil {
			t.Fatal(err)
		}
		if _, body, _ := owner.get("/dashboard/stores/" + w.a.ID + "/security"); !strings.Contains(body, "/dashboard/stores/"+w.a.ID+"/invoices?flag=held") {
			t.Error("the security page's blocked list does not link to the invoices flagged held")
		}
	})
}
