package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

func engines(t *testing.T, f func(t *testing.T, w *world)) {
	for _, e := range testdb.Engines() {
		t.Run(e.Name, func(t *testing.T) { f(t, newWorld(t, e.Open)) })
	}
}

// TestStaffSeesOnlyTheirStore: a staff user of store A finds A's invoice,
// and store B does not exist for them, by page or by invoice id.
func TestStaffSeesOnlyTheirStore(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		invA, invB := w.invoice(w.a, "order-a"), w.invoice(w.b, "order-b")
		secret := w.user("staff@shop-a.example", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleStaff})
		b := w.browser()
		if code, _, hdr := b.get("/dashboard/"); code != http.StatusSeeOther || hdr.Get("Location") != "/dashboard/login" {
			t.Fatalf("signed out: %d to %q, want the sign-in page", code, hdr.Get("Location"))
		}
		b.signIn("staff@shop-a.example", secret)

		code, _, hdr := b.get("/dashboard/")
		if want := "/dashboard/stores/" + w.a.ID + "/invoices"; code != http.StatusSeeOther || hdr.Get("Location") != want {
			t.Fatalf("home: %d to %q, want %s (the one store)", code, hdr.Get("Location"), want)
		}
		cases := []struct {
			name, path string
			status     int
			has        string
		}{
			{"own list", "/dashboard/stores/" + w.a.ID + "/invoices", 200, invA.ID},
			{"own invoice", "/dashboard/stores/" + w.a.ID + "/invoices/" + invA.ID, 200, invA.Address},
			{"search by order id", "/dashboard/stores/" + w.a.ID + "/invoices?q=order-a", 200, invA.ID},
			{"filter excludes", "/dashboard/stores/" + w.a.ID + "/invoices?status=settled", 200, "No invoice matches"},
			{"other store's list", "/dashboard/stores/" + w.b.ID + "/invoices", 404, ""},
			{"other store's invoice through own store", "/dashboard/stores/" + w.a.ID + "/invoices/" + invB.ID, 404, ""},
			{"unknown filter", "/dashboard/stores/" + w.a.ID + "/invoices?sort=amount", 400, "Unknown filter"},
			{"bad status", "/dashboard/stores/" + w.a.ID + "/invoices?status=paid", 400, "status"},
			{"keys need keys:read", "/dashboard/stores/" + w.a.ID + "/keys", 403, "does not allow"},
			{"audit needs audit:read", "/dashboard/stores/" + w.a.ID + "/security", 403, "does not allow"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				code, body, _ := b.get(tc.path)
				if code != tc.status || !strings.Contains(body, tc.has) {
					t.Errorf("GET %s = %d (has %q: %v), want %d", tc.path, code, tc.has, strings.Contains(body, tc.has), tc.status)
				}
				if strings.Contains(body, invB.Address) || strings.Contains(body, "order-b") || strings.Contains(body, "Shop B") {
					t.Errorf("GET %s shows store B's data", tc.path)
				}
			})
		}
	})
}

// TestFormsNeedTheSessionsToken: a mark-invalid without the CSRF token, or
// with another session's, changes nothing; with it the invoice is marked
// and the audit log names the user.
func TestFormsNeedTheSessionsToken(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		inv := w.invoice(w.a, "order-1")
		b := w.browser()
		b.signIn("staff@example.com", w.user("staff@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleStaff}))
		other := w.browser()
		other.signIn("other@example.com", w.user("other@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleStaff}))
		other.get("/dashboard/stores/" + w.a.ID + "/invoices")

		path := "/dashboard/stores/" + w.a.ID + "/invoices/" + inv.ID + "/mark"
		b.get("/dashboard/stores/" + w.a.ID + "/invoices/" + inv.ID)
		form := func(csrf string) url.Values {
			return url.Values{"to": {"invalid"}, "reason": {"customer cancelled"}, "csrf": {csrf}}
		}
		for name, f := range map[string]url.Values{"no token": form("-"), "another session's token": form(other.csrf), "a made-up token": form("x")} {
			if code, _, _ := b.post(path, f); code != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", name, code)
			}
		}
		if code, body, _ := b.post(path, url.Values{"to": {"invalid"}, "reason": {"x"}, "extra": {"1"}}); code != http.StatusBadRequest || !strings.Contains(body, "extra") {
			t.Errorf("unknown field: %d, want 400 naming it", code)
		}
		if code, _, _ := b.post(path, url.Values{"to": {"invalid"}, "reason": {" "}}); code != http.StatusBadRequest {
			t.Errorf("empty reason: %d, want 400", code)
		}
		got, err := w.svc.GetInvoice(context.Background(), nil, inv.ID)
		if err != nil || got.Status != cryptopay.StatusNew {
			t.Fatalf("refused forms changed the invoice: %v, %v", got.Status, err)
		}
		if code, _, hdr := b.post(path, form(b.csrf)); code != http.StatusSeeOther || !strings.HasSuffix(hdr.Get("Location"), inv.ID) {
			t.Fatalf("mark with the token: %d", code)
		}
		got, _ = w.svc.GetInvoice(context.Background(), nil, inv.ID)
		if got.Status != cryptopay.StatusInvalid || got.Flags&cryptopay.FlagMarked == 0 {
			t.Errorf("after marking: %s %s, want invalid, marked", got.Status, got.Flags)
		}
		entries, _, err := w.svc.ListAuditEntries(context.Background(), nil, gateway.AuditQuery{StoreID: w.a.ID, Action: "invoice.marked"})
		if err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Actor, gateway.PrefixUser+"_") {
			t.Errorf("audit of the mark: %+v, %v; want one entry by the user", entries, err)
		}
	})
}

// TestKeysByRole: a viewer cannot see or revoke keys; an owner creates a
// key whose secret is shown once, then revokes it.
func TestKeysByRole(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		ck, err := w.svc.CreateKey(w.opCtx(), gateway.KeyParams{StoreID: w.a.ID, Name: "shop", Scopes: []string{"invoices:read"}})
		if err != nil {
			t.Fatal(err)
		}
		viewer := w.browser()
		viewer.signIn("viewer@example.com", w.user("viewer@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleViewer}))
		viewer.get("/dashboard/stores/" + w.a.ID + "/invoices")
		if code, _, _ := viewer.post("/dashboard/stores/"+w.a.ID+"/keys/"+ck.Key.ID+"/revoke", url.Values{}); code != http.StatusForbidden {
			t.Errorf("viewer revoking a key: %d, want 403", code)
		}
		if k, _ := w.svc.GetKey(context.Background(), nil, ck.Key.ID); k.RevokedAt != nil {
			t.Fatal("the viewer's refused revoke revoked the key")
		}

		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		code, page, _ := owner.get("/dashboard/stores/" + w.a.ID + "/keys")
		if code != 200 || !strings.Contains(page, ck.Key.ID) {
			t.Fatalf("owner's keys page: %d", code)
		}
		code, body, hdr := owner.post("/dashboard/stores/"+w.a.ID+"/keys", url.Values{"name": {"new"}, "scopes[]": {"invoices:read", "events:read"}, "expires_in_days": {"30"},
			"form_id": {hidden(t, page, "form_id")}})
		if code != 200 || !strings.Contains(body, "cp_test_") || !strings.Contains(body, "shown once") {
			t.Fatalf("create key: %d, secret shown: %v", code, strings.Contains(body, "cp_test_"))
		}
		if cc := hdr.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("the page showing a secret has Cache-Control %q, want no-store", cc)
		}
		if _, again, _ := owner.get("/dashboard/stores/" + w.a.ID + "/keys"); strings.Contains(again, "cp_test_") {
			t.Error("the key's secret is shown again on reload")
		}
		if code, body, _ := owner.post("/dashboard/stores/"+w.a.ID+"/keys", url.Values{"name": {"bad"}, "scopes[]": {"root"}, "form_id": {hidden(t, page, "form_id")}}); code != 400 || !strings.Contains(body, "root") {
			t.Errorf("unknown scope: %d, want 400 naming it", code)
		}
		if code, _, _ := owner.post("/dashboard/stores/"+w.a.ID+"/keys/"+ck.Key.ID+"/revoke", url.Values{}); code != 200 {
			t.Errorf("owner revoking: %d", code)
		}
		if k, _ := w.svc.GetKey(context.Background(), nil, ck.Key.ID); k.RevokedAt == nil {
			t.Error("the owner's revoke did not revoke the key")
		}
	})
}

// TestSignInRefusals: wrong passwords, a locked account, the per-address
// attempt limit, and the cookie's attributes.
func TestSignInRefusals(t *testing.T) {
	w := newWorld(t, testdb.SQLite)
	w.user("user@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleViewer})
	b := w.browser()
	code, body, hdr := b.post("/dashboard/login", url.Values{"email": {"user@example.com"}, "password": {"wrong password!"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "not right") || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("wrong password: %d, cookie %q", code, hdr.Get("Set-Cookie"))
	}
	if got := hdr.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q, want DENY", got)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	_, hdr = b.postStatus("/dashboard/login", url.Values{"email": {"user@example.com"}, "password": {testPassword}})
	cookie := hdr.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if code, _, _ := b.post("/dashboard/login", url.Values{"email": {"user@example.com"}, "password": {testPassword}, "remember": {"1"}}); code != 400 {
		t.Errorf("unknown field on sign-in: %d, want 400", code)
	}
	cross := w.browser()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/dashboard/login", strings.NewReader("email=a%40b.c&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := cross.c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in form: %v, %v; want 403", resp.StatusCode, err)
	}
	limited := false
	for i := range 12 {
		code, _ := b.postStatus("/dashboard/login", url.Values{"email": {fmt.Sprintf("nobody%d@example.com", i)}, "password": {"guess guess guess"}})
		if code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("twelve more sign-ins from one address were never rate limited")
	}
}

// TestExportCSV: the export holds the range's invoices with exact amounts,
// and an order id that would run as a spreadsheet formula is defused.
func TestExportCSV(t *testing.T) {
	w := newWorld(t, testdb.SQLite)
	inv := w.invoice(w.a, "=HYPERLINK(\"https://evil.example\")")
	b := w.browser()
	b.signIn("v@example.com", w.user("v@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleViewer}))
	day := inv.CreatedAt.UTC().Format("2006-01-02")
	code, body, hdr := b.get("/dashboard/stores/" + w.a.ID + "/export.csv?kind=invoices&from=" + day + "&to=" + day)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", code, hdr.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "invoice_id,") || !strings.Contains(lines[1], inv.ID) ||
		!strings.Contains(lines[1], "0.00150000") || !strings.Contains(lines[1], `'=HYPERLINK`) {
		t.Errorf("export body:\n%s", body)
	}
	if code, body, _ := b.get("/dashboard/stores/" + w.a.ID + "/export.csv?kind=invoices&from=2000-01-01&to=2000-01-02"); code != 200 || strings.Count(body, "\n") != 1 {
		t.Errorf("empty range: %d\n%s", code, body)
	}
	if code, _, _ := b.get("/dashboard/stores/" + w.a.ID + "/export.csv?kind=secrets&from=" + day + "&to=" + day); code != 400 {
		t.Errorf("unknown kind: %d, want 400", code)
	}
}
