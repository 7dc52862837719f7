package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// TestGuideJavaScriptAcceptsCapturedDelivery runs the security guide's own
// verifyWebhookSignature (webhooksig's fixture, copied verbatim from the
// guide) under node against a delivery captured from a running delivery
// engine: it must accept the X-CryptoPay-Signature as sent and reject the
// body with one byte changed. Without node it skips, except under CI.
func TestGuideJavaScriptAcceptsCapturedDelivery(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node not on PATH and CI is set: %v", err)
		}
		t.Skip("node not on PATH")
	}
	db := openSQLite(t)
	rec := newRecorder(t, nil)
	s := newService(t, db, nil)
	st := createStore(t, db, false)
	if _, _, err := s.CreateEndpoint(t.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(rec.srv.URL)}); err != nil {
		t.Fatal(err)
	}
	ep, _, _ := s.ListEndpoints(t.Context(), Owner{StoreID: st.ID}, pageAll)
	_, secret, err := s.RotateSecret(t.Context(), Owner{StoreID: st.ID}, ep[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	writeEvent(t, db, st, cryptopay.EventInvoiceSettled,
		`{"invoice_id":"inv_1","order_id":"Bestellung-7","amount":"100.00","currency":"EUR","description":"Café crème"}`)
	eventually(t, 20*time.Second, "a delivery", func() bool { return len(rec.all()) == 1 })
	got := rec.all()[0]
	sig := got.Header.Get(webhooksig.HeaderLegacySignature)

	tampered := append([]byte(nil), got.Body...)
	i := bytes.Index(tampered, []byte("100.00"))
	tampered[i] = '9'
	for _, tc := range []struct {
		name   string
		body   []byte
		accept bool
	}{
		{"captured delivery accepted", got.Body, true},
		{"one byte changed rejected", tampered, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok := runGuide(t, node, tc.body, sig, secret); ok != tc.accept {
				t.Fatalf("guide's verifyWebhookSignature accepted=%v, want %v", ok, tc.accept)
			}
		})
	}
}

func runGuide(t *testing.T, node string, payload []byte, sig, secret string) bool {
	t.Helper()
	in, _ := json.Marshal(map[string]string{"payload_base64": base64.StdEncoding.EncodeToString(payload), "signature": sig, "secret": secret})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "../../webhooksig/testdata/verify_webhook_signature.js")
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	res := strings.TrimSpace(out.String())
	var ee *exec.ExitError
	switch {
	case err == nil && res == "true":
		return true
	case errors.As(err, &ee) && ee.ExitCode() == 1 && res == "false":
		return false
	}
	t.Fatalf("node: err=%v stdout=%q stderr=%q", err, res, stderr.String())
	return false
}
