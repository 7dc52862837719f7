package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/devnet"
)

// The developer tools `listen`, `trigger` and `events resend` are clients
// of a gateway's public API, as the Stripe CLI is of Stripe's: by default
// the running sandbox (found through its state file, with a key of their
// own that the sandbox's control endpoint makes and they revoke when they
// finish), or any gateway named with --api-url and the key in
// CRYPTOPAY_API_KEY (never a flag: secrets are not taken from the command
// line).

// apiTarget is a gateway reached through its public API.
type apiTarget struct {
	base    string
	api     *client.Client
	sandbox *devnet.State // nil with --api-url
	keyID   string        // a key made for this command in the sandbox; revoked by close
}

// openTarget reaches the gateway at apiURL with CRYPTOPAY_API_KEY, or the
// sandbox when apiURL is "" with a new key named tool holding scopes.
// With testOnly a live key is refused before any request is made.
func openTarget(ctx context.Context, env Env, apiURL, tool string, scopes []string, testOnly bool) (*apiTarget, error) {
	httpc := &http.Client{Timeout: 30 * time.Second}
	if apiURL != "" {
		if err := checkAPIURL(apiURL); err != nil {
			return nil, err
		}
		key := env.Getenv("CRYPTOPAY_API_KEY")
		switch {
		case key == "":
			return nil, usageError{"--api-url needs the API key in CRYPTOPAY_API_KEY (keys are never taken from flags)"}
		case strings.HasPrefix(key, "cp_live_") && testOnly:
			return nil, fmt.Errorf("cryptopay %s works only in test mode, and CRYPTOPAY_API_KEY is a live key (cp_live_…): use a test key (cp_test_…) of a test store", tool)
		case !strings.HasPrefix(key, "cp_test_") && !strings.HasPrefix(key, "cp_live_"):
			return nil, errors.New("CRYPTOPAY_API_KEY is not a CryptoPay API key (want cp_test_…)")
		}
		base := strings.TrimRight(apiURL, "/")
		return &apiTarget{base: base, api: client.New(base, key, client.WithHTTPClient(httpc), client.WithUserAgent("cryptopay-cli/"+Version))}, nil
	}
	st, err := sandbox(env)
	if err != nil {
		return nil, fmt.Errorf("%w\n(or point at another test-mode gateway with --api-url and CRYPTOPAY_API_KEY)", err)
	}
	var k mintKeyResponse
	if err := callControl(ctx, st, http.MethodPost, "/keys", mintKeyRequest{Name: "cryptopay " + tool, Scopes: scopes}, &k); err != nil {
		return nil, err
	}
	return &apiTarget{base: st.API, sandbox: st, keyID: k.ID,
		api: client.New(st.API, k.Secret, client.WithHTTPClient(httpc), client.WithUserAgent("cryptopay-cli/"+Version))}, nil
}

// close revokes the key made for this command, if any, even when ctx has
// ended (Ctrl-C).
func (t *apiTarget) close(ctx context.Context) error {
	if t.keyID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return callControl(ctx, t.sandbox, http.MethodPost, "/keys/revoke", revokeKeyRequest{ID: t.keyID}, nil)
}

// checkAPIURL accepts the base URL of a gateway: http or https, a host,
// nothing after the path.
func checkAPIURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return usageError{fmt.Sprintf("--api-url %q: want the gateway's base URL, such as http://127.0.0.1:8080", s)}
	}
	return nil
}

// apiErr says what a refusal of the API means for the command's user: the
// API's message, with the field it names.
func apiErr(what string, err error) error {
	if e, ok := errors.AsType[*client.Error](err); ok {
		msg := e.Message
		if e.Param != "" {
			msg += " (" + e.Param + ")"
		}
		return fmt.Errorf("%s: %s", what, msg)
	}
	return fmt.Errorf("%s: %w", what, err)
}
