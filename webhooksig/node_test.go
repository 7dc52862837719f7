package webhooksig

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
)

// TestGuideJavaScriptAcceptsSign runs the security guide's own
// verifyWebhookSignature, copied verbatim into testdata, under node: what a
// merchant who follows the guide deploys must accept the gateway's
// X-CryptoPay-Signature and reject a tampered body. Without node the test
// skips locally but fails when CI is set, so CI can never skip it silently.
func TestGuideJavaScriptAcceptsSign(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node not on PATH and CI is set: this interoperability test must run in CI: %v", err)
		}
		t.Skip("node not on PATH; install Node.js to run the security guide's JavaScript")
	}

	tampered := append([]byte(nil), testPayload...)
	i := bytes.Index(tampered, []byte("100.00"))
	tampered[i] = '9' // "100.00" becomes "900.00": one byte changed
	sig := Sign(testPayload, testSecret)
	unicodeBody := []byte(`{"data":{"description":"Café crème, 5 €","amount":"5.00","currency":"EUR"}}`)
	ts := time.Unix(1_700_000_000, 0)
	v1 := strings.TrimPrefix(SignHeader(testPayload, ts, testSecret), "t=1700000000,v1=")

	tests := []struct {
		name    string
		payload []byte
		sig     string
		secret  string
		accept  bool
	}{
		{name: "Sign output accepted", payload: testPayload, sig: sig, secret: testSecret, accept: true},
		{name: "non-ASCII UTF-8 body accepted", payload: unicodeBody, sig: Sign(unicodeBody, testSecret), secret: testSecret, accept: true},
		{name: "empty body accepted", payload: []byte{}, sig: Sign(nil, testSecret), secret: testSecret, accept: true},
		{name: "v1 checks out as the guide's MAC over t.body", payload: append([]byte("1700000000."), testPayload...), sig: v1, secret: testSecret, accept: true},
		{name: "one byte of the body changed", payload: tampered, sig: sig, secret: testSecret},
		{name: "wrong secret", payload: testPayload, sig: sig, secret: oldSecret},
		{name: "truncated signature (guide throws on length mismatch)", payload: testPayload, sig: sig[:62], secret: testSecret},
		{name: "non-hex signature (guide throws)", payload: testPayload, sig: "not hex", secret: testSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runGuideVerify(t, node, tc.payload, tc.sig, tc.secret)
			if got != tc.accept {
				t.Fatalf("guide's verifyWebhookSignature accepted=%v, want %v", got, tc.accept)
			}
			// The Go verifier must agree with the guide's code.
			if goOK := VerifyLegacy(tc.payload, tc.sig, tc.secret) == nil; goOK != tc.accept {
				t.Fatalf("VerifyLegacy accepted=%v, guide's JavaScript accepted=%v", goOK, tc.accept)
			}
		})
	}
}

// runGuideVerify runs testdata/verify_webhook_signature.js and reports
// whether it accepted. Exit 1 is a rejection (including a throw inside the
// guide's function); anything else unexpected fails the test.
func runGuideVerify(t *testing.T, node string, payload []byte, sig, secret string) bool {
	t.Helper()
	in, err := json.Marshal(map[string]string{
		"payload_base64": base64.StdEncoding.EncodeToString(payload),
		"signature":      sig,
		"secret":         secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Generous: node starts in well under a second, even on a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/verify_webhook_signature.js")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	out := strings.TrimSpace(stdout.String())
	var exitErr *exec.ExitError
	switch {
	case err == nil && out == "true":
		return true
	case errors.As(err, &exitErr) && exitErr.ExitCode() == 1 && out == "false":
		return false
	default:
		t.Fatalf("node: err=%v stdout=%q stderr=%q", err, out, stderr.String())
		return false
	}
}
