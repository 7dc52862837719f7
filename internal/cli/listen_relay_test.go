package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/webhooksig"
)

// TestRelayPassesTheShopsAnswerBack: the relay answers the gateway with
// the shop's own status and body (so a failing handler is retried), a 502
// when the shop cannot be reached, and with --json prints each body
// exactly, one a line, keeping stdout free of anything else.
func TestRelayPassesTheShopsAnswerBack(t *testing.T) {
	const secret = "whsec_relaytestsecret"
	body := `{"id":"evt_1","object":"event","type":"invoice.settled","data":{"invoice_id":"inv_1","status":"settled"}}`
	cases := []struct {
		name       string
		shopStatus int // 0: no shop listening
		wantStatus int
		wantBody   string
	}{
		{"the shop accepts", http.StatusNoContent, http.StatusNoContent, ""},
		{"the shop fails", http.StatusInternalServerError, http.StatusInternalServerError, "shop says no"},
		{"the shop redirects (not followed)", http.StatusFound, http.StatusFound, "shop says no"},
		{"no shop listening", 0, http.StatusBadGateway, "could not reach"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotBody string
			var gotSig string
			shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody, gotSig = string(b), r.Header.Get(webhooksig.HeaderSignature)
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(tc.shopStatus)
				_, _ = io.WriteString(w, "shop says no")
			}))
			target, _ := url.Parse(shop.URL + "/webhooks")
			if tc.shopStatus == 0 {
				shop.Close()
			} else {
				defer shop.Close()
			}
			var out, log syncBuffer
			rl := &relay{secret: secret, forward: target, json: true, out: &out, log: &log,
				client: &http.Client{Timeout: forwardTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
			srv := httptest.NewServer(rl)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
			sig := webhooksig.SignHeader([]byte(body), time.Now(), secret)
			req.Header.Set(webhooksig.HeaderSignature, sig)
			req.Header.Set(webhooksig.HeaderEventID, "evt_1")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(answer), tc.wantBody) {
				t.Errorf("relay answered %d %q, want %d with %q", resp.StatusCode, answer, tc.wantStatus, tc.wantBody)
			}
			if out.String() != body+"\n" {
				t.Errorf("--json stdout = %q, want exactly the body and a newline", out.String())
			}
			if tc.shopStatus != 0 && (gotBody != body || gotSig != sig) {
				t.Errorf("the shop got %q with signature %q; want the exact body and header", gotBody, gotSig)
			}
		})
	}
}
