package cli

import (
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
)

// TestEventsOfAProcessWithoutWebhooksQueueTheirDeliveries: a process that
// never builds the webhook service (any command but serve and webhooks)
// still queues the deliveries of the events it writes, in their
// transaction, for the running gateway to send. Once, deliveries were
// queued by a hook that only the webhook service installed, so such a
// process wrote events no endpoint ever heard of.
func TestEventsOfAProcessWithoutWebhooksQueueTheirDeliveries(t *testing.T) {
	e, env := loopbackEnv(t)
	st := withTestApp(t, env, func(a *app) *cryptopay.Store { return createRegtestStore(t, a) })
	ep := field(t, e.must("webhooks", "create", "--store", st.ID, "--url", "http://127.0.0.1:9/hook"), "id")

	// This app has the gateway service only: no webhook service, no workers.
	inv := withTestApp(t, env, func(a *app) *cryptopay.Invoice { return createTestInvoice(t, a, st.ID) })
	deliveries := e.must("webhooks", "deliveries", ep)
	if n := strings.Count(deliveries, string(cryptopay.EventInvoiceCreated)); n != 1 {
		t.Fatalf("%d invoice.created deliveries queued for invoice %s, want 1:\n%s", n, inv.ID, deliveries)
	}
}
