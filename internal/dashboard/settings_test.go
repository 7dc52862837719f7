package dashboard_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// generalForm is the general settings form as the page sends it
// unchanged: every field with the value it showed.
func generalForm(t *testing.T, b *browser, storeID string) url.Values {
	t.Helper()
	code, body, _ := b.get("/dashboard/stores/" + storeID + "/settings")
	if code != 200 {
		t.Fatalf("settings page: %d", code)
	}
	f := url.Values{}
	for _, k := range []string{"name", "invoice_expiry", "monitoring_window", "tolerance", "rate_spread",
		"confirmations", "confirmations_currency", "confirmations_zero_conf_below"} {
		m := regexp.MustCompile(`id="` + k + `" name="` + k + `" value="([^"]*)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("the settings page has no %s input", k)
		}
		f.Set(k, m[1])
	}
	return f
}

func (w *world) auditCount(storeID, action string) int {
	w.t.Helper()
	st, err := w.svc.GetStore(context.Background(), storeID)
	if err != nil {
		w.t.Fatal(err)
	}
	es, _, err := w.svc.ListAuditEntries(context.Background(), &cryptopay.APIKey{StoreID: storeID, Livemode: st.Livemode,
		Scopes: []cryptopay.Scope{cryptopay.ScopeAuditRead}}, gateway.AuditQuery{Action: action, Limit: 100})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(es)
}

// TestSettingsChangeByOwnerOnly: the owner changes the store's expiry,
// tolerance and tiers, which the store then has, with one audit entry; a
// viewer and a staff user are refused, an owner of store A cannot reach
// store B, a form without the CSRF token is refused, and an unchanged
// form writes nothing.
func TestSettingsChangeByOwnerOnly(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		viewer := w.browser()
		viewer.signIn("viewer@example.com", w.user("viewer@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleViewer}))
		staff := w.browser()
		staff.signIn("staff@example.com", w.user("staff@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleStaff}))

		f := generalForm(t, owner, w.a.ID)
		if f.Get("invoice_expiry") != "15" || f.Get("confirmations") != "100.00:3,1000.00:12,24" {
			t.Fatalf("the form shows expiry %q and tiers %q, want 15 and the guide's table", f.Get("invoice_expiry"), f.Get("confirmations"))
		}
		if code, _, hdr := owner.post("/dashboard/stores/"+w.a.ID+"/settings/general", f); code != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "saved=general") {
			t.Fatalf("unchanged form: %d to %q", code, hdr.Get("Location"))
		}
		if n := w.auditCount(w.a.ID, gateway.AuditStoreUpdated); n != 0 {
			t.Errorf("an unchanged form wrote %d audit entries, want 0", n)
		}

		changed := url.Values{}
		for k, v := range f {
			changed[k] = v
		}
		changed.Set("invoice_expiry", "30")
		changed.Set("tolerance", "50")
		changed.Set("confirmations", "100.00:2,1000.00:6,12")
		viewer.get("/dashboard/stores/" + w.a.ID + "/settings")
		staff.get("/dashboard/stores/" + w.a.ID + "/settings")
		noCSRF := cloneValues(changed)
		noCSRF.Set("csrf", "-")
		refusals := []struct {
			name   string
			b      *browser
			path   string
			form   url.Values
			status int
		}{
			{"viewer", viewer, "/dashboard/stores/" + w.a.ID + "/settings/general", changed, 403},
			{"staff", staff, "/dashboard/stores/" + w.a.ID + "/settings/general", changed, 403},
			{"staff on limits", staff, "/dashboard/stores/" + w.a.ID + "/settings/limits", url.Values{"max_invoice": {"1.00"}}, 403},
			{"owner of A on store B", owner, "/dashboard/stores/" + w.b.ID + "/settings/general", changed, 404},
			{"without the CSRF token", owner, "/dashboard/stores/" + w.a.ID + "/settings/general", noCSRF, 403},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				if code, _, _ := tc.b.post(tc.path, tc.form); code != tc.status {
					t.Errorf("POST %s: %d, want %d", tc.path, code, tc.status)
				}
			})
		}
		for _, id := range []string{w.a.ID, w.b.ID} {
			if st, _ := w.svc.GetStore(context.Background(), id); st.InvoiceExpiry != 15*time.Minute || st.ToleranceBasisPoints != 0 {
				t.Fatalf("a refused form changed store %s: expiry %s, tolerance %d", id, st.InvoiceExpiry, st.ToleranceBasisPoints)
			}
		}

		if code, _, _ := owner.post("/dashboard/stores/"+w.a.ID+"/settings/general", changed); code != http.StatusSeeOther {
			t.Fatalf("owner's change: %d", code)
		}
		st, _ := w.svc.GetStore(context.Background(), w.a.ID)
		if st.InvoiceExpiry != 30*time.Minute || st.ToleranceBasisPoints != 50 || st.Confirmations.Above != 12 || st.Name != "Shop A" {
			t.Errorf("after the change: expiry %s, tolerance %d, above %d, name %q", st.InvoiceExpiry, st.ToleranceBasisPoints, st.Confirmations.Above, st.Name)
		}
		if _, body, _ := owner.get("/dashboard/stores/" + w.a.ID + "/settings?saved=general"); !strings.Contains(body, "General settings saved") || !strings.Contains(body, `value="100.00:2,1000.00:6,12"`) {
			t.Error("the settings page does not show the saved tiers and note")
		}
		es, _, _ := w.svc.ListAuditEntries(context.Background(), &cryptopay.APIKey{StoreID: w.a.ID, Scopes: []cryptopay.Scope{cryptopay.ScopeAuditRead}},
			gateway.AuditQuery{Action: gateway.AuditStoreUpdated, Limit: 10})
		if len(es) != 1 || !strings.Contains(es[0].Actor, "usr_") || !strings.Contains(string(es[0].Details), "invoice_expiry") ||
			strings.Contains(string(es[0].Details), "rate_spread") {
			t.Errorf("audit of the change: %+v; want one entry by the user naming the changed fields only", es)
		}
		if _, body, _ := viewer.get("/dashboard/stores/" + w.a.ID + "/settings"); strings.Contains(body, "settings/general") || !strings.Contains(body, "30m0s") {
			t.Error("the viewer's settings page offers the form or does not show the new expiry")
		}
	})
}

// TestSettingsRefusedValues: each bad value is refused with the message at
// its field (aria-invalid, the value as typed kept) and nothing changes.
func TestSettingsRefusedValues(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		base := generalForm(t, owner, w.a.ID)
		cases := []struct {
			name, path, field, value, message string
		}{
			{"expiry not a number", "general", "invoice_expiry", "soon", "whole number of minutes"},
			{"expiry beyond 30 days", "general", "invoice_expiry", "50000", "invoice_expiry must be between"},
			{"negative window", "general", "monitoring_window", "-1", "monitoring_window must be between"},
			{"tolerance above 10 %", "general", "tolerance", "5000", "tolerance must be between"},
			{"spread above 20 %", "general", "rate_spread", "2001", "rate_spread must be between"},
			{"empty name", "general", "name", "  ", "name is required"},
			{"falling tiers", "general", "confirmations", "1000.00:12,100.00:3,24", "tiers must rise"},
			{"tier above 1000 confirmations", "general", "confirmations", "100.00:3,1000.00:12,5000", "confirmations must be a whole number from 1 to 1000"},
			{"tiers above the reorg limit", "general", "confirmations", "100.00:3,1000.00:12,200", "more than the reorg limit of 100"},
			{"crypto tier currency", "general", "confirmations_currency", "BTC", "fiat currency"},
			{"zero-conf above the first bound", "general", "confirmations_zero_conf_below", "500.00", "only for small payments"},
			{"colour name", "checkout", "brand_color", "red", "brand_color"},
			{"script help page", "checkout", "support_url", "javascript:alert(1)", "support_url"},
			{"explorer without txid", "checkout", "explorer_tx_url", "https://mempool.space/tx/", "explorer_tx_url"},
			{"negative limit", "limits", "daily", "-5", "daily"},
			{"limit with too many decimals", "limits", "max_invoice", "10.001", "max_invoice"},
			{"warn above 100", "limits", "warn_percent", "150", "warn_percent must be between"},
			{"financial retention under a year", "limits", "financial_retention_days", "30", "financial_retention_days must be between"},
		}
		before, _ := w.svc.GetStore(context.Background(), w.a.ID)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := url.Values{}
				switch tc.path {
				case "general":
					for k, v := range base {
						f[k] = v
					}
				case "checkout":
					f = url.Values{"brand_color": {""}, "support_url": {""}, "support_email": {""}, "explorer_tx_url": {""}}
				case "limits":
					f = url.Values{"max_invoice": {""}, "daily": {""}, "monthly": {""}, "customer_daily": {""}, "warn_percent": {"80"},
						"personal_retention_days": {"0"}, "financial_retention_days": {"1825"}}
				}
				f.Set(tc.field, tc.value)
				code, body, _ := owner.post("/dashboard/stores/"+w.a.ID+"/settings/"+tc.path, f)
				if code != http.StatusBadRequest {
					t.Fatalf("status %d, want 400", code)
				}
				field := regexp.MustCompile(`(?s)<span class="field-error" id="` + tc.field + `-error">([^<]*)</span>\s*<input id="` + tc.field + `"[^>]*aria-invalid="true"`).FindStringSubmatch(body)
				if field == nil || !strings.Contains(field[1], tc.message) {
					t.Errorf("no error at field %s containing %q; page error: %s", tc.field, tc.message, regexp.MustCompile(`role="alert">[^<]*`).FindString(body))
				}
				if !strings.Contains(body, `value="`+template(tc.value)+`"`) {
					t.Errorf("the refused value %q is not kept in the form", tc.value)
				}
				if !strings.Contains(body, "Nothing was changed") {
					t.Error("the page does not say nothing was changed")
				}
			})
		}
		after, _ := w.svc.GetStore(context.Background(), w.a.ID)
		if after.InvoiceExpiry != before.InvoiceExpiry || after.Name != before.Name || after.Confirmations.Above != before.Confirmations.Above {
			t.Error("a refused value changed the store")
		}
		co, _ := w.svc.StoreSettings(context.Background(), w.a.ID)
		c, _ := w.svc.Compliance(context.Background(), w.a.ID)
		if co.BrandColor != "" || co.SupportURL != "" || c.Daily != 0 || c.FinancialRetentionDays != gateway.DefaultFinancialRetentionDays {
			t.Errorf("a refused value changed checkout %+v or limits %+v", co, c)
		}
		for _, a := range []string{gateway.AuditStoreUpdated, gateway.AuditStoreSettingsUpdated, gateway.AuditComplianceUpdated} {
			if n := w.auditCount(w.a.ID, a); n != 0 {
				t.Errorf("%d %s audit entries after refusals only", n, a)
			}
		}
		if code, _, _ := owner.post("/dashboard/stores/"+w.a.ID+"/settings/general", url.Values{"name": {"x"}, "owner": {"me"}}); code != 400 {
			t.Errorf("unknown field: %d, want 400", code)
		}
	})
}

// template escapes a value as html/template writes it into an attribute.
func template(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

// TestCheckoutAndLimitsSaved: the owner sets the colour, a limit and a
// retention, uploads a logo and removes it; the services hold each.
func TestCheckoutAndLimitsSaved(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		owner.get("/dashboard/stores/" + w.a.ID + "/settings")
		if code, _, _ := owner.post("/dashboard/stores/"+w.a.ID+"/settings/checkout", url.Values{"brand_color": {"#aa3300"},
			"support_url": {"https://shop.example/help"}, "support_email": {""}, "explorer_tx_url": {""}}); code != http.StatusSeeOther {
			t.Fatalf("checkout: %d", code)
		}
		if code, _, _ := owner.post("/dashboard/stores/"+w.a.ID+"/settings/limits", url.Values{"max_invoice": {"500.00"}, "daily": {"2000"},
			"monthly": {""}, "customer_daily": {""}, "warn_percent": {"90"}, "personal_retention_days": {"365"}, "financial_retention_days": {""}}); code != http.StatusSeeOther {
			t.Fatalf("limits: %d", code)
		}
		co, _ := w.svc.StoreSettings(context.Background(), w.a.ID)
		c, _ := w.svc.Compliance(context.Background(), w.a.ID)
		if co.BrandColor != "#aa3300" || co.SupportURL != "https://shop.example/help" {
			t.Errorf("checkout settings %+v", co)
		}
		if c.MaxInvoice != 500_00 || c.Daily != 2000_00 || c.Monthly != 0 || c.WarnBasisPoints != 9000 || c.PersonalRetentionDays != 365 ||
			c.FinancialRetentionDays != gateway.DefaultFinancialRetentionDays {
			t.Errorf("limits %+v", c)
		}
		if _, body, _ := owner.get("/dashboard/stores/" + w.a.ID + "/settings"); !strings.Contains(body, `value="500.00"`) || !strings.Contains(body, `value="#aa3300"`) {
			t.Error("the settings page does not show the saved limit and colour")
		}

		var img bytes.Buffer
		_ = png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 32, 32)))
		upload := func(name string, content []byte, route ...string) (int, string) {
			path := "/dashboard/stores/" + w.a.ID + "/settings/logo"
			if len(route) > 0 {
				path = route[0]
			}
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			_ = mw.WriteField("csrf", owner.csrf)
			fw, _ := mw.CreateFormFile("logo", name)
			_, _ = fw.Write(content)
			_ = mw.Close()
			req, _ := http.NewRequest(http.MethodPost, w.srv.URL+path, &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Origin", w.srv.URL)
			resp, err := owner.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			return resp.StatusCode, b.String()
		}
		if code, body := upload("logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)); code != 400 || !strings.Contains(body, "SVG logos are refused") {
			t.Errorf("SVG upload: %d", code)
		}
		if code, _ := upload("logo.png", img.Bytes(), "/dashboard/stores/"+w.a.ID+"/settings/checkout"); code != 400 {
			t.Errorf("an upload to another form: %d, want 400", code)
		}
		if code, _ := upload("logo.png", img.Bytes()); code != http.StatusSeeOther {
			t.Fatalf("PNG upload: %d", code)
		}
		if co, _ := w.svc.StoreSettings(context.Background(), w.a.ID); co.LogoType != "image/png" {
			t.Errorf("logo after upload: %q", co.LogoType)
		}
		if code, _, _ := owner.post("/dashboard/stores/"+w.a.ID+"/settings/logo", url.Values{"remove": {"1"}}); code != http.StatusSeeOther {
			t.Errorf("remove logo: %d", code)
		}
		if co, _ := w.svc.StoreSettings(context.Background(), w.a.ID); co.Logo != nil {
			t.Error("the logo is still there after removal")
		}
	})
}

// TestKeyFormCreatesOnce: sending the create-key form a second time (a
// reload of the page that showed the secret) creates nothing and says the
// secret was shown once; so does sending a rotation again.
func TestKeyFormCreatesOnce(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		_, page, _ := owner.get("/dashboard/stores/" + w.a.ID + "/keys")
		f := url.Values{"name": {"till"}, "scopes[]": {"invoices:write"}, "form_id": {hidden(t, page, "form_id")}}
		code, first, _ := owner.post("/dashboard/stores/"+w.a.ID+"/keys", f)
		if code != 200 || !strings.Contains(first, "cp_test_") {
			t.Fatalf("first send: %d", code)
		}
		if next := hidden(t, first, "form_id"); next == f.Get("form_id") {
			t.Error("the page after creating a key offers the same form id again")
		}
		code, again, _ := owner.post("/dashboard/stores/"+w.a.ID+"/keys", f)
		if code != 200 || strings.Contains(again, "cp_test_") || !strings.Contains(again, "shown once") {
			t.Errorf("second send: %d, secret shown: %v", code, strings.Contains(again, "cp_test_"))
		}
		ks, _ := w.svc.ListKeys(context.Background(), w.a.ID)
		if n := strings.Count(strings.Join(keyNames(ks), ","), "till"); n != 1 {
			t.Errorf("%d keys named till, want 1", n)
		}
		var till cryptopay.APIKey
		for _, k := range ks {
			if k.Name == "till" {
				till = k
			}
		}
		rotate := "/dashboard/stores/" + w.a.ID + "/keys/" + till.ID + "/rotate"
		if code, body, _ := owner.post(rotate, url.Values{}); code != 200 || !strings.Contains(body, "cp_test_") {
			t.Fatalf("rotate: %d", code)
		}
		if code, body, _ := owner.post(rotate, url.Values{}); code != 200 || strings.Contains(body, "cp_test_") || !strings.Contains(body, "already rotated") {
			t.Errorf("rotate sent again: %d, secret shown: %v", code, strings.Contains(body, "cp_test_"))
		}
		if ks, _ := w.svc.ListKeys(context.Background(), w.a.ID); strings.Count(strings.Join(keyNames(ks), ","), "till") != 2 {
			t.Errorf("after rotating twice: %v; want the old key and one new one", keyNames(ks))
		}
		for _, bad := range []string{"", "key_nonsense", cryptopay.FirstIDAt(cryptopay.PrefixAPIKey, time.Now().Add(-48*time.Hour))} {
			f.Set("form_id", bad)
			if code, _, _ := owner.post("/dashboard/stores/"+w.a.ID+"/keys", f); code != 400 {
				t.Errorf("form_id %q: %d, want 400", bad, code)
			}
		}
	})
}

func keyNames(ks []cryptopay.APIKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

// review opens a review on inv as the monitoring does.
func (w *world) review(inv *cryptopay.Invoice, title string) *storage.Review {
	w.t.Helper()
	r := &storage.Review{ID: cryptopay.NewID(gateway.PrefixReview, time.Now()), StoreID: inv.StoreID, Livemode: inv.Livemode,
		InvoiceID: inv.ID, Rule: "high_value", Title: title, Text: "Invoice worth more than the alert threshold.",
		Evidence: storage.ReviewEvidence{Network: string(inv.Network), Address: inv.Address, Asset: inv.Asset, Amount: "0.0015", Currency: "BTC",
			Payments: []storage.EvidencePayment{{TxID: strings.Repeat("ab", 32), Amount: "0.0015", FromAddress: "bcrt1qsender", Status: "held", SeenAt: time.Now()}}},
		Status: storage.ReviewOpen, OpenedAt: time.Now()}
	if err := w.db.InTx(context.Background(), func(tx storage.Tx) error { return tx.CreateReview(context.Background(), r) }); err != nil {
		w.t.Fatal(err)
	}
	return r
}

// TestAlertsResolve: staff see their store's open review with its
// evidence and resolve it with a note (audited, by name); a viewer cannot
// see or resolve alerts; staff of store A cannot resolve store B's; a note
// is required and a form without the CSRF token is refused.
func TestAlertsResolve(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		ra := w.review(w.invoice(w.a, "order-a"), "High-value invoice in A")
		rb := w.review(w.invoice(w.b, "order-b"), "High-value invoice in B")
		staff := w.browser()
		staff.signIn("staff@example.com", w.user("staff@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleStaff}))
		viewer := w.browser()
		viewer.signIn("viewer@example.com", w.user("viewer@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleViewer}))

		code, body, _ := staff.get("/dashboard/stores/" + w.a.ID + "/alerts")
		if code != 200 || !strings.Contains(body, "High-value invoice in A") || !strings.Contains(body, strings.Repeat("ab", 32)) ||
			!strings.Contains(body, "bcrt1qsender") || strings.Contains(body, "in B") {
			t.Fatalf("staff's alerts page: %d, shows A's review with evidence: %v", code, strings.Contains(body, strings.Repeat("ab", 32)))
		}
		if code, _, _ := viewer.get("/dashboard/stores/" + w.a.ID + "/alerts"); code != 403 {
			t.Errorf("viewer's alerts page: %d, want 403", code)
		}
		viewer.get("/dashboard/stores/" + w.a.ID + "/invoices")
		resolve := "/dashboard/stores/" + w.a.ID + "/alerts/" + ra.ID + "/resolve"
		cases := []struct {
			name   string
			b      *browser
			path   string
			form   url.Values
			status int
		}{
			{"viewer", viewer, resolve, url.Values{"note": {"looked"}}, 403},
			{"B's review through A", staff, "/dashboard/stores/" + w.a.ID + "/alerts/" + rb.ID + "/resolve", url.Values{"note": {"looked"}}, 404},
			{"B's store", staff, "/dashboard/stores/" + w.b.ID + "/alerts/" + rb.ID + "/resolve", url.Values{"note": {"looked"}}, 404},
			{"no note", staff, resolve, url.Values{"note": {"  "}}, 400},
			{"no CSRF token", staff, resolve, url.Values{"note": {"looked"}, "csrf": {"-"}}, 403},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if code, _, _ := tc.b.post(tc.path, tc.form); code != tc.status {
					t.Errorf("%d, want %d", code, tc.status)
				}
			})
		}
		for _, r := range []*storage.Review{ra, rb} {
			if got, _ := w.db.GetReview(context.Background(), r.ID); got.Status != storage.ReviewOpen {
				t.Fatalf("a refused resolve resolved %s", r.ID)
			}
		}
		if code, _, hdr := staff.post(resolve, url.Values{"note": {"Called the customer; order is genuine."}}); code != http.StatusSeeOther {
			t.Fatalf("staff resolving: %d %s", code, hdr.Get("Location"))
		}
		got, _ := w.db.GetReview(context.Background(), ra.ID)
		if got.Status != storage.ReviewResolved || got.Note != "Called the customer; order is genuine." || !strings.Contains(got.ResolvedBy, "usr_") {
			t.Errorf("review after resolving: %+v", got)
		}
		if n := w.auditCount(w.a.ID, gateway.AuditReviewResolved); n != 1 {
			t.Errorf("%d review.resolved audit entries, want 1", n)
		}
		if _, body, _ := staff.get("/dashboard/stores/" + w.a.ID + "/alerts?status=resolved"); !strings.Contains(body, "order is genuine") {
			t.Error("the resolved list does not show the note")
		}
		if code, _, _ := staff.post(resolve, url.Values{"note": {"again"}}); code != 400 {
			t.Errorf("resolving twice: %d, want 400", code)
		}
	})
}

// TestUnblockAndFreezeByOperator: blocks and the freeze are gateway-wide,
// so only an operator user may lift a block or freeze; an owner sees
// both but is refused; the freeze needs its confirmation box.
func TestUnblockAndFreezeByOperator(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		n := cryptopay.NetworkBitcoinRegtest
		if err := w.db.InTx(ctx, func(tx storage.Tx) error {
			return tx.BlockAddress(ctx, &storage.BlockedAddress{ID: cryptopay.NewID("blk", time.Now()), Network: n, Address: "bcrt1qblocked",
				Reason: "double spent", Failures: 6, BlockedAt: time.Now(), BlockedBy: "system"})
		}); err != nil {
			t.Fatal(err)
		}
		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		op := w.browser()
		op.signIn("op@example.com", w.user("op@example.com", true))
		sec := "/dashboard/stores/" + w.a.ID + "/security"

		code, body, _ := owner.get(sec)
		if code != 200 || !strings.Contains(body, "bcrt1qblocked") || strings.Contains(body, "/security/unblock") || strings.Contains(body, "/security/freeze") || !strings.Contains(body, "Not frozen") {
			t.Fatalf("owner's security page: %d", code)
		}
		unblock := url.Values{"network": {string(n)}, "address": {"bcrt1qblocked"}}
		if code, _, _ := owner.post(sec+"/unblock", unblock); code != 403 {
			t.Errorf("owner unblocking: %d, want 403", code)
		}
		if code, _, _ := owner.post(sec+"/freeze", url.Values{"reason": {"x"}, "confirm": {"yes"}}); code != 403 {
			t.Errorf("owner freezing: %d, want 403", code)
		}
		if _, err := w.db.GetBlockedAddress(ctx, n, "bcrt1qblocked"); err != nil {
			t.Fatalf("the owner's refused unblock lifted the block: %v", err)
		}

		if _, body, _ := op.get(sec); !strings.Contains(body, "/security/unblock") || !strings.Contains(body, "/security/freeze") {
			t.Fatal("the operator's security page offers no unblock or freeze")
		}
		if code, _, _ := op.post(sec+"/unblock", url.Values{"network": {string(n)}, "address": {"bcrt1qblocked"}, "csrf": {"-"}}); code != 403 {
			t.Errorf("unblock without the CSRF token: %d, want 403", code)
		}
		if code, _, _ := op.post(sec+"/unblock", unblock); code != http.StatusSeeOther {
			t.Fatalf("operator unblocking: %d", code)
		}
		if _, err := w.db.GetBlockedAddress(ctx, n, "bcrt1qblocked"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the address is still blocked: %v", err)
		}
		if code, body, _ := op.post(sec+"/unblock", unblock); code != 404 || !strings.Contains(body, "not blocked") {
			t.Errorf("unblocking again: %d, want 404", code)
		}

		if code, _, _ := op.post(sec+"/freeze", url.Values{"reason": {"key leak"}}); code != 400 {
			t.Errorf("freeze without confirming: %d, want 400", code)
		}
		if frozen, _ := w.svc.Frozen(ctx); frozen {
			t.Fatal("an unconfirmed freeze froze the gateway")
		}
		if code, _, _ := op.post(sec+"/freeze", url.Values{"reason": {"key leak"}, "confirm": {"yes"}}); code != http.StatusSeeOther {
			t.Fatalf("freeze: %d", code)
		}
		if frozen, _ := w.svc.Frozen(ctx); !frozen {
			t.Fatal("the confirmed freeze did not freeze the gateway")
		}
		if _, body, _ := owner.get(sec); !strings.Contains(body, "FROZEN") || !strings.Contains(body, "key leak") {
			t.Error("the owner's security page does not show the freeze and its reason")
		}
		if code, _, _ := op.post(sec+"/unfreeze", url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther {
			t.Fatalf("unfreeze: %d", code)
		}
		if frozen, _ := w.svc.Frozen(ctx); frozen {
			t.Error("still frozen after unfreezing")
		}
		for _, a := range []string{"address.unblocked", gateway.AuditIncidentFreeze, gateway.AuditIncidentUnfreeze} {
			es, _, _ := w.svc.ListAuditEntries(ctx, nil, gateway.AuditQuery{Action: a, Limit: 10})
			if len(es) != 1 || !strings.Contains(es[0].Actor, "usr_") {
				t.Errorf("audit %s: %d entries, want 1 by the operator user", a, len(es))
			}
		}
	})
}

var firstAddress = regexp.MustCompile(`id="first-address">([^<]+)<`)

// indexShown is the receiving address number the preview shows.
var indexShown = regexp.MustCompile(`receiving address #(\d+) of the new key`)

// TestAccountKeyReplaced: the owner previews a new account key, sees the
// address new invoices will get, and confirms; the next invoice gets that
// address while the earlier one keeps its own. A viewer cannot, the
// confirmation box is required, a private key is refused and never shown
// back, another store's key (current or replaced) is refused. A key new
// to the store starts at receiving address #0; going back to the old key
// resumes past the index it used.
func TestAccountKeyReplaced(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		old := w.invoice(w.a, "before")
		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		viewer := w.browser()
		viewer.signIn("viewer@example.com", w.user("viewer@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleViewer}))
		owner.get("/dashboard/stores/" + w.a.ID + "/settings")
		viewer.get("/dashboard/stores/" + w.a.ID + "/settings")
		preview := "/dashboard/stores/" + w.a.ID + "/settings/account_key/preview"
		net := string(cryptopay.NetworkBitcoinRegtest)
		newKey := vpub(t, 5)

		if code, _, _ := viewer.post(preview, url.Values{"network": {net}, "account_key": {newKey}}); code != 403 {
			t.Errorf("viewer preview: %d, want 403", code)
		}
		seed := make([]byte, 64)
		priv, _, err := account.DeriveAccountFromSeed(seed, account.Regtest, 0)
		if err != nil {
			t.Fatal(err)
		}
		refusals := []struct {
			name, key, message string
			status             int
		}{
			{"private key", priv.String(), "private", 400},
			{"not a key", "hello", "account_key", 400},
			{"the current key", vpub(t, 0), "current account key", 400},
			{"store B's key", vpub(t, 1), "another store", 400},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				code, body, _ := owner.post(preview, url.Values{"network": {net}, "account_key": {tc.key}})
				if code != tc.status || !strings.Contains(body, tc.message) {
					t.Errorf("%d, want %d with %q; alert: %s", code, tc.status, tc.message, regexp.MustCompile(`role="alert">[^<]*`).FindString(body))
				}
				if strings.Contains(body, tc.key) && tc.name == "private key" {
					t.Error("the refused private key is shown back on the page")
				}
			})
		}

		code, body, _ := owner.post(preview, url.Values{"network": {net}, "account_key": {newKey}})
		m := firstAddress.FindStringSubmatch(body)
		if code != 200 || m == nil || !strings.Contains(body, "keep their addresses") {
			t.Fatalf("preview: %d", code)
		}
		// A key new to the store starts at its receiving address #0, where
		// a wallet restored from it starts scanning.
		if !strings.Contains(body, "receiving address #0 of the new key") || !strings.Contains(body, "starts at its first receiving address, #0") {
			t.Errorf("the preview of a new key does not say it starts at #0")
		}
		fp := hidden(t, body, "fingerprint")
		replace := "/dashboard/stores/" + w.a.ID + "/settings/account_key"
		confirm := url.Values{"network": {net}, "account_key": {newKey}, "fingerprint": {fp}}
		if code, _, _ := owner.post(replace, confirm); code != 400 {
			t.Errorf("without the confirmation box: %d, want 400", code)
		}
		wrong := cloneValues(confirm)
		wrong.Set("confirm", "yes")
		wrong.Set("account_key", vpub(t, 6))
		if code, _, _ := owner.post(replace, wrong); code != 400 {
			t.Errorf("a key other than the one previewed: %d, want 400", code)
		}
		if st, _ := w.svc.GetStore(ctx, w.a.ID); st.Wallets[0].AccountKey != vpub(t, 0) {
			t.Fatal("a refused replacement changed the key")
		}
		confirm.Set("confirm", "yes")
		if code, _, hdr := owner.post(replace, confirm); code != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "saved=account_key") {
			t.Fatalf("confirmed replacement: %d %s", code, hdr.Get("Location"))
		}
		next := w.invoice(w.a, "after")
		if next.Address != m[1] {
			t.Errorf("the next invoice got %s, the preview promised %s", next.Address, m[1])
		}
		if again, _ := w.svc.GetInvoice(ctx, &cryptopay.APIKey{StoreID: w.a.ID, Scopes: []cryptopay.Scope{cryptopay.ScopeInvoicesRead}}, old.ID); again.Address != old.Address {
			t.Errorf("the earlier invoice's address changed to %s", again.Address)
		}
		if n := w.auditCount(w.a.ID, gateway.AuditStoreAccountKeyReplaced); n != 1 {
			t.Errorf("%d account key audit entries, want 1", n)
		}

		// Store A's old key stays A's: A may go back to it (its indexes
		// continue past every one used), B cannot take it up, nor a new store.
		code, body, _ = owner.post(preview, url.Values{"network": {net}, "account_key": {vpub(t, 0)}})
		back := indexShown.FindStringSubmatch(body)
		if code != 200 || back == nil || !strings.Contains(body, "used this key before") {
			t.Fatalf("store A going back to its old key: %d", code)
		}
		if idx, _ := strconv.ParseUint(back[1], 10, 32); idx <= uint64(old.AddressIndex) {
			t.Errorf("going back to the old key would start at #%d, not past its used #%d", idx, old.AddressIndex)
		}
		op := w.browser()
		op.signIn("op@example.com", w.user("op@example.com", true))
		op.get("/dashboard/stores/" + w.b.ID + "/settings")
		if code, body, _ := op.post("/dashboard/stores/"+w.b.ID+"/settings/account_key/preview", url.Values{"network": {net}, "account_key": {vpub(t, 0)}}); code != 400 || !strings.Contains(body, "another store") {
			t.Errorf("store B taking A's replaced key: %d", code)
		}
		if _, err := w.svc.CreateStore(w.opCtx(), gateway.StoreParams{Name: "C", Wallets: []gateway.WalletParams{{Network: net, AccountKey: vpub(t, 0)}}}); err == nil {
			t.Error("a new store took up A's replaced key")
		}
	})
}
