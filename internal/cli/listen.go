package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/client"
)

// `cryptopay listen` gives a shop's local code real, signed webhooks, as
// `stripe listen --forward-to` does: it registers a temporary test-mode
// endpoint that delivers to a relay it runs on loopback, verifies each
// delivery's signature itself, prints it, forwards the exact body and
// headers to the shop and answers the gateway with the shop's status, so
// retries behave as for a real endpoint. The endpoint expires unless
// renewed; the listener renews it while it runs and deletes it on Ctrl-C,
// so a listener that crashed leaves nothing that keeps receiving.

const (
	// listenTTL is the temporary endpoint's lifetime, renewed every third
	// of it: a crashed listener's endpoint stops receiving within it.
	listenTTL = 2 * time.Minute
	// forwardTimeout is how long the shop has to answer: under the
	// gateway's 10 s per attempt, so the relay can still pass the shop's
	// failure back rather than be cut off itself.
	forwardTimeout = 8 * time.Second
	// listenDescription starts the description of every endpoint listen
	// makes, so a later run can clean up one a crash left.
	listenDescription = "cryptopay listen"
)

func runListen(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "listen")
	forward := fs.String("forward-to", "", "URL of the shop's webhook handler, e.g. http://127.0.0.1:3000/webhooks (required)")
	events := fs.String("events", "*", "event types to receive: comma-separated, with wildcards such as invoice.*,payment.*")
	asJSON := fs.Bool("json", false, "print each event's raw body (one JSON document a line) instead of a summary")
	apiURL := fs.String("api-url", "", "a test-mode gateway's base URL, with CRYPTOPAY_API_KEY (default: the running sandbox)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: cryptopay listen --forward-to URL [--events invoice.*,payment.*] [--json] [--api-url URL]

Registers a temporary test-mode webhook endpoint and forwards every signed
event to URL, printing each. Ctrl-C removes the endpoint.

`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *forward == "" {
		return usageError{"--forward-to is required, e.g. --forward-to http://127.0.0.1:3000/webhooks"}
	}
	target, err := parseForwardTo(*forward)
	if err != nil {
		return usageError{err.Error()}
	}
	types, err := parseEventPatterns(*events)
	if err != nil {
		return usageError{"--events: " + err.Error()}
	}

	t, err := openTarget(ctx, env, *apiURL, "listen", []string{string(cryptopay.ScopeWebhooksRead), string(cryptopay.ScopeWebhooksWrite)}, true)
	if err != nil {
		return err
	}
	defer t.close(ctx)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer ln.Close()
	relayURL := "http://" + ln.Addr().String() + "/"

	removeStale(ctx, t.api)
	params := client.WebhookEndpointParams{URL: relayURL, EnabledEvents: types, ExpiresIn: listenTTL,
		Description: fmt.Sprintf("%s (pid %d) forwarding to %s", listenDescription, os.Getpid(), target)}
	ep, err := t.api.CreateWebhookEndpoint(ctx, params)
	if err != nil {
		if e, ok := errors.AsType[*client.Error](err); ok && e.Param == "url" {
			return fmt.Errorf("the gateway refused the relay's loopback URL %s: %s\n(listen needs a gateway on this machine that allows test endpoints on loopback: `cryptopay dev`, or serve with CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK=true)", relayURL, e.Message)
		}
		return apiErr("create the temporary endpoint", err)
	}
	// From here on the endpoint exists: leave only through remove.
	remove := func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := t.api.DeleteWebhookEndpoint(rctx, ep.ID); err != nil {
			return apiErr("remove the temporary endpoint "+ep.ID+" (it expires by itself within "+listenTTL.String()+")", err)
		}
		fmt.Fprintf(env.Stderr, "removed the temporary endpoint %s\n", ep.ID)
		return nil
	}
	if ep.Livemode {
		// A test key never makes a live endpoint; refuse to forward live
		// money's events to a developer's machine if one ever did.
		return errors.Join(errors.New("the gateway made a live-mode endpoint; listen works only in test mode"), remove())
	}

	r := &relay{secret: ep.Secret, forward: target, json: *asJSON, out: env.Stdout, log: env.Stderr,
		client: &http.Client{Timeout: forwardTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	info := env.Stdout
	if *asJSON {
		info = env.Stderr // stdout carries only event bodies
	}
	what := "all events"
	if types != nil {
		what = strings.Join(types, ", ")
	}
	fmt.Fprintf(env.Stderr, "Ready: forwarding %s from %s to %s (temporary endpoint %s; Ctrl-C removes it)\n", what, t.base, target, ep.ID)
	fmt.Fprintf(info, "export CRYPTOPAY_WEBHOOK_SECRET=%s\n", ep.Secret)

	err = renewUntilDone(ctx, env, t.api, ep.ID)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // deliveries in flight finish first
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, remove())
}

// renewUntilDone moves the endpoint's expiry on every third of listenTTL
// until ctx ends. A renewal that fails is retried at the next tick (the
// endpoint outlives two missed ones); an endpoint someone deleted ends the
// run.
func renewUntilDone(ctx context.Context, env Env, api *client.Client, id string) error {
	tick := time.NewTicker(listenTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		_, err := api.UpdateWebhookEndpoint(ctx, id, client.WebhookEndpointParams{ExpiresIn: listenTTL})
		if e, ok := errors.AsType[*client.Error](err); ok && e.Code == string(cryptopay.CodeNotFound) {
			return fmt.Errorf("the temporary endpoint %s was deleted; stopping", id)
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(env.Stderr, "warning: could not renew the temporary endpoint %s: %v\n", id, err)
		}
	}
}

// removeStale deletes endpoints an earlier listen left behind that have
// expired (it crashed); best effort, so a key that may not list or delete
// still listens.
func removeStale(ctx context.Context, api *client.Client) {
	l, err := api.ListWebhookEndpoints(ctx)
	if err != nil {
		return
	}
	for _, ep := range l.Data {
		if strings.HasPrefix(ep.Description, listenDescription) && ep.ExpiresAt != nil && time.Now().After(*ep.ExpiresAt) {
			_ = api.DeleteWebhookEndpoint(ctx, ep.ID)
		}
	}
}

// parseForwardTo checks --forward-to: an absolute http or https URL with
// a host and a valid port, no credentials (they would be printed with
// every event) and no fragment.
func parseForwardTo(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	bad := func(why string) error {
		return fmt.Errorf("--forward-to %q: %s; want a URL such as http://127.0.0.1:3000/webhooks", s, why)
	}
	switch {
	case err != nil:
		return nil, bad("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad("the scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return nil, bad("no host")
	case u.User != nil:
		return nil, bad("credentials in the URL are not accepted")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, bad("a fragment is never sent")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != p {
			return nil, bad("the port must be from 1 to 65535")
		}
	}
	return u, nil
}

// parseEventPatterns reads --events: comma-separated event types, each
// exact (invoice.settled) or a prefix wildcard (invoice.*, payment.*), or
// "*" for every type. It returns the types in the gateway's order without
// repeats, or nil for every type. A pattern that matches nothing is an
// error, so a typo never silently subscribes to nothing. The test event
// is not subscribable: it goes to the endpoint that asks for it.
func parseEventPatterns(s string) ([]string, error) {
	var out []string
	all := false
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("empty event type in %q", s)
		}
		if p == "*" {
			all = true
			continue
		}
		prefix, wild := strings.CutSuffix(p, "*")
		if wild && (!strings.HasSuffix(prefix, ".") || strings.Contains(prefix, "*")) {
			return nil, fmt.Errorf("%q: a wildcard ends a prefix, as in invoice.*", p)
		}
		matched := false
		for _, t := range cryptopay.EventTypes {
			if t == cryptopay.EventTest {
				continue
			}
			if (wild && strings.HasPrefix(string(t), prefix)) || (!wild && string(t) == p) {
				matched = true
				if !slices.Contains(out, string(t)) {
					out = append(out, string(t))
				}
			}
		}
		if !matched {
			return nil, fmt.Errorf("%q matches no event type (see docs/events.md)", p)
		}
	}
	if all {
		return nil, nil
	}
	// The gateway's order, whatever order the patterns came in.
	slices.SortFunc(out, func(a, b string) int {
		return slices.Index(cryptopay.EventTypes, cryptopay.EventType(a)) - slices.Index(cryptopay.EventTypes, cryptopay.EventType(b))
	})
	return out, nil
}
