package cli

import (
	"context"
	"fmt"

	"github.com/cryptopay/cryptopay"
)

// runEvents is `cryptopay events resend EVENT_ID [--endpoint ID]`, as
// `stripe events resend`: a client of the public API (the sandbox by
// default, or --api-url with CRYPTOPAY_API_KEY, live keys included: a
// resend is an ordinary operation).
func runEvents(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "events", verbs: []verb{{"resend", eventsResend}}}.run(ctx, env, args)
}

func eventsResend(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "events resend")
	endpoint := fs.String("endpoint", "", "resend only to this webhook endpoint (we_…); default: every enabled endpoint subscribed to the event's type")
	apiURL := fs.String("api-url", "", "the gateway's base URL, with CRYPTOPAY_API_KEY (default: the running sandbox)")
	pos, err := splitArgs(fs, args)
	if err != nil {
		return parseErr(err)
	}
	if len(pos) != 1 {
		return usageError{"want one event id: cryptopay events resend evt_… [--endpoint we_…]"}
	}
	t, err := openTarget(ctx, env, *apiURL, "events resend", []string{string(cryptopay.ScopeWebhooksWrite)}, false)
	if err != nil {
		return err
	}
	defer t.close(ctx)
	l, err := t.api.ResendEvent(ctx, pos[0], *endpoint)
	if err != nil {
		return apiErr("resend "+pos[0], err)
	}
	if len(l.Data) == 0 {
		return fmt.Errorf("no enabled, unexpired endpoint subscribes to event %s's type; name one with --endpoint", pos[0])
	}
	for _, d := range l.Data {
		fmt.Fprintf(env.Stdout, "resent %s (%s) to %s: delivery %s\n", d.EventID, d.EventType, d.EndpointID, d.ID)
	}
	return nil
}
