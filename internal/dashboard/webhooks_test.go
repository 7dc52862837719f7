package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

var shownSecret = regexp.MustCompile(`id="new-secret">([^<]+)<`)

// TestRotateSecretFormRotatesOnce: the rotate form rotates the signing
// secret and shows it once; sending the same form again (a reload of that
// page, a double click) rotates nothing, shows no secret and says why, so
// the secret the merchant just copied keeps working. A fresh page rotates
// again; a form without its form_id is refused.
func TestRotateSecretFormRotatesOnce(t *testing.T) {
	engines(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		hook := "http://127.0.0.1:9/hooks" // never reached: nothing is sent here
		ep, _, err := w.wh.CreateEndpoint(w.opCtx(), webhook.Owner{StoreID: w.a.ID}, webhook.EndpointParams{URL: &hook})
		if err != nil {
			t.Fatal(err)
		}
		owner := w.browser()
		owner.signIn("owner@example.com", w.user("owner@example.com", false, storage.DashboardGrant{StoreID: w.a.ID, Role: storage.RoleOwner}))
		page := "/dashboard/stores/" + w.a.ID + "/webhooks/" + ep.ID
		rotate := page + "/rotate"
		_, body, _ := owner.get(page)
		f := url.Values{"form_id": {hidden(t, body, "form_id")}}

		code, first, _ := owner.post(rotate, f)
		m := shownSecret.FindStringSubmatch(first)
		if code != 200 || m == nil {
			t.Fatalf("first rotation: %d, secret shown: %v", code, m != nil)
		}
		after, err := w.wh.GetEndpoint(ctx, webhook.Owner{StoreID: w.a.ID}, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if next := hidden(t, first, "form_id"); next == f.Get("form_id") {
			t.Error("the page showing the new secret offers the same form_id again")
		}

		code, again, _ := owner.post(rotate, f)
		if code != 200 || shownSecret.MatchString(again) || !strings.Contains(again, "already rotated") {
			t.Errorf("the same form sent again: %d, secret shown: %v", code, shownSecret.MatchString(again))
		}
		now, _ := w.wh.GetEndpoint(ctx, webhook.Owner{StoreID: w.a.ID}, ep.ID)
		if now.Secret != after.Secret {
			t.Fatal("the form sent again rotated the secret: the one just shown no longer signs")
		}

		if code, _, _ := owner.post(rotate, url.Values{}); code != http.StatusBadRequest {
			t.Errorf("rotate without form_id: %d, want 400", code)
		}
		_, fresh, _ := owner.get(page)
		if code, body, _ := owner.post(rotate, url.Values{"form_id": {hidden(t, fresh, "form_id")}}); code != 200 || !shownSecret.MatchString(body) {
			t.Errorf("rotation from a fresh page: %d", code)
		}
		if last, _ := w.wh.GetEndpoint(ctx, webhook.Owner{StoreID: w.a.ID}, ep.ID); last.Secret == after.Secret {
			t.Error("the rotation from a fresh page did not rotate")
		}
	})
}
