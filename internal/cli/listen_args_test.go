package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
)

// TestListenTriggerResendRefusals: mistakes in the command line are
// refused with a message naming what is wrong, before anything is
// registered or any request is made (a live key is refused before the
// gateway is contacted: the --api-url here has nothing listening).
func TestListenTriggerResendRefusals(t *testing.T) {
	noSandbox := t.TempDir()
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"listen without --forward-to", []string{"listen"}, nil, 2, "--forward-to is required"},
		{"listen forwarding to ftp", []string{"listen", "--forward-to", "ftp://127.0.0.1/hook"}, nil, 2, "scheme must be http or https"},
		{"listen forwarding to a path alone", []string{"listen", "--forward-to", "/webhooks"}, nil, 2, "scheme must be http or https"},
		{"listen forwarding without a host", []string{"listen", "--forward-to", "http:///webhooks"}, nil, 2, "no host"},
		{"listen forwarding with credentials", []string{"listen", "--forward-to", "http://user:pw@127.0.0.1:3000/"}, nil, 2, "credentials"},
		{"listen forwarding to port 0", []string{"listen", "--forward-to", "http://127.0.0.1:0/"}, nil, 2, "port"},
		{"listen forwarding to a port too high", []string{"listen", "--forward-to", "http://127.0.0.1:70000/"}, nil, 2, "port"},
		{"listen with an unknown event type", []string{"listen", "--forward-to", "http://127.0.0.1:3000/", "--events", "invoice.exploded"}, nil, 2, `"invoice.exploded" matches no event type`},
		{"listen with a bad wildcard", []string{"listen", "--forward-to", "http://127.0.0.1:3000/", "--events", "inv*"}, nil, 2, "wildcard"},
		{"listen with an empty event type", []string{"listen", "--forward-to", "http://127.0.0.1:3000/", "--events", "invoice.settled,"}, nil, 2, "empty event type"},
		{"listen with a live key", []string{"listen", "--forward-to", "http://127.0.0.1:3000/", "--api-url", "http://127.0.0.1:1"},
			map[string]string{"CRYPTOPAY_API_KEY": "cp_live_abc123def456"}, 1, "only in test mode"},
		{"listen with --api-url and no key", []string{"listen", "--forward-to", "http://127.0.0.1:3000/", "--api-url", "http://127.0.0.1:1"}, nil, 2, "CRYPTOPAY_API_KEY"},
		{"listen with a key that is not one", []string{"listen", "--forward-to", "http://127.0.0.1:3000/", "--api-url", "http://127.0.0.1:1"},
			map[string]string{"CRYPTOPAY_API_KEY": "sk_test_123"}, 1, "not a CryptoPay API key"},
		{"listen with a bad --api-url", []string{"listen", "--forward-to", "http://127.0.0.1:3000/", "--api-url", "127.0.0.1:8080"}, nil, 2, "--api-url"},
		{"listen with no sandbox running", []string{"listen", "--forward-to", "http://127.0.0.1:3000/"}, nil, 1, "no sandbox is running"},
		{"trigger an unknown event type", []string{"trigger", "invoice.exploded"}, nil, 2, `cannot trigger "invoice.exploded"`},
		{"trigger nothing", []string{"trigger"}, nil, 2, "want one event type"},
		{"trigger two", []string{"trigger", "invoice.settled", "invoice.created"}, nil, 2, "want one event type"},
		{"trigger with no sandbox running", []string{"trigger", "invoice.settled"}, nil, 1, "no sandbox is running"},
		{"resend without an event", []string{"events", "resend"}, nil, 2, "want one event id"},
		{"an unknown events command", []string{"events", "replay", "evt_x"}, nil, 2, `unknown events command "replay"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"CRYPTOPAY_DATA_DIR": noSandbox}
			for k, v := range tc.env {
				vars[k] = v
			}
			var out, errOut strings.Builder
			code := Run(t.Context(), tc.args, Env{Getenv: func(k string) string { return vars[k] }, Stdout: &out, Stderr: &errOut})
			if code != tc.wantCode || !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut.String(), tc.wantCode, tc.wantErr)
			}
			if strings.Contains(out.String(), "whsec_") {
				t.Errorf("a refused listen printed a secret: %s", out.String())
			}
		})
	}
}

// TestParseEventPatterns: the oracle for wildcards is the list of types
// itself, filtered by prefix here, independently of the parser's loop.
func TestParseEventPatterns(t *testing.T) {
	withPrefix := func(p string) []string {
		var out []string
		for _, e := range cryptopay.EventTypes {
			if strings.HasPrefix(string(e), p) && e != cryptopay.EventTest {
				out = append(out, string(e))
			}
		}
		return out
	}
	cases := []struct {
		name, in string
		want     []string
		wantErr  string
	}{
		{"everything", "*", nil, ""},
		{"everything beside a type", "invoice.settled,*", nil, ""},
		{"one type", "invoice.settled", []string{"invoice.settled"}, ""},
		{"spaces around", " invoice.settled , invoice.created ", []string{"invoice.created", "invoice.settled"}, ""},
		{"invoice wildcard", "invoice.*", withPrefix("invoice."), ""},
		{"both wildcards, any order", "payment.*,invoice.*", append(withPrefix("invoice."), withPrefix("payment.")...), ""},
		{"a type and its wildcard", "invoice.settled,invoice.*", withPrefix("invoice."), ""},
		{"the test event", "test", nil, "matches no event type"},
		{"a typo", "invoice.setled", nil, "matches no event type"},
		{"a wildcard matching nothing", "refund.*", nil, "matches no event type"},
		{"a wildcard inside", "invoice.*.x", nil, "matches no event type"},
		{"a bare prefix wildcard", "inv*", nil, "wildcard"},
		{"two stars", "invoice.**", nil, "wildcard"},
		{"empty", "", nil, "empty event type"},
		{"trailing comma", "invoice.settled,", nil, "empty event type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEventPatterns(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseEventPatterns: never panics; what it accepts is nil (every
// type) or known, subscribable types without repeats, in the gateway's
// order.
func FuzzParseEventPatterns(f *testing.F) {
	for _, s := range []string{"*", "invoice.*,payment.*", "invoice.settled", " a ,b", ",", "invoice.**", "test", "webhook_endpoint.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseEventPatterns(s)
		if err != nil {
			return
		}
		last := -1
		for _, g := range got {
			i := slices.Index(cryptopay.EventTypes, cryptopay.EventType(g))
			if i < 0 || g == string(cryptopay.EventTest) {
				t.Fatalf("%q gave %q, not a subscribable type", s, g)
			}
			if i <= last {
				t.Fatalf("%q gave %v: repeated or out of order", s, got)
			}
			last = i
		}
		if got == nil && !slices.Contains(strings.Split(s, ","), "*") && !strings.Contains(s, "*") {
			t.Fatalf("%q gave every type without a *", s)
		}
	})
}

// FuzzParseForwardTo: never panics; an accepted URL is absolute http(s)
// with a host, no credentials and no fragment, and prints back to a URL
// that is accepted again.
func FuzzParseForwardTo(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:3000/webhooks", "https://shop.test/h?x=1", "ftp://x", "http://u:p@h/", "http://h:99999/", "http://[::1]:80/", "http://h/#f", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseForwardTo(s)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("%q accepted as %#v", s, u)
		}
		if _, err := parseForwardTo(u.String()); err != nil {
			t.Fatalf("%q accepted, but its printed form %q is not: %v", s, u.String(), err)
		}
	})
}
