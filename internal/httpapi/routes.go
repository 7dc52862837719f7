package httpapi

import (
	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/checkout"
	"github.com/cryptopay/cryptopay/internal/dashboard"
)

// routes registers every route, one line each. The OpenAPI document must
// describe exactly these (a test holds the two together).
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.handle(s.healthz))
	m.HandleFunc("GET /readyz", s.handle(s.readyz))
	m.HandleFunc("GET /v1/openapi.json", s.handle(s.openAPI))

	m.HandleFunc("POST /v1/invoices", s.authed(cryptopay.ScopeInvoicesWrite, s.idempotent(s.createInvoice)))
	m.HandleFunc("GET /v1/invoices", s.authed(cryptopay.ScopeInvoicesRead, s.listInvoices))
	m.HandleFunc("GET /v1/invoices/{id}", s.authed(cryptopay.ScopeInvoicesRead, s.getInvoice))
	m.HandleFunc("POST /v1/invoices/{id}/redact", s.authed(cryptopay.ScopeInvoicesWrite, s.redactInvoice))
	m.HandleFunc("POST /v1/invoices/{id}/mark_settled", s.authed(cryptopay.ScopeInvoicesWrite, s.idempotent(s.markInvoice(cryptopay.StatusSettled))))
	m.HandleFunc("POST /v1/invoices/{id}/mark_invalid", s.authed(cryptopay.ScopeInvoicesWrite, s.idempotent(s.markInvoice(cryptopay.StatusInvalid))))
	m.HandleFunc("POST /v1/invoices/{id}/payments/{payment_id}/release", s.authed(cryptopay.ScopeInvoicesWrite, s.idempotent(s.releasePayment)))
	m.HandleFunc("GET /v1/audit_events", s.authed(cryptopay.ScopeAuditRead, s.listAuditEvents))
	m.HandleFunc("GET /v1/blocked_addresses", s.authed(cryptopay.ScopeAuditRead, s.listBlockedAddresses))

	m.HandleFunc("GET /v1/events", s.authed(cryptopay.ScopeEventsRead, s.listEvents))
	m.HandleFunc("GET /v1/rates", s.authed(cryptopay.ScopeInvoicesRead, s.listRates))

	m.HandleFunc("GET /v1/limits", s.authed(cryptopay.ScopeSettingsRead, s.getLimits))
	m.HandleFunc("PATCH /v1/limits", s.authed(cryptopay.ScopeSettingsWrite, s.updateLimits))
	m.HandleFunc("GET /v1/reviews", s.authed(cryptopay.ScopeAuditRead, s.listReviews))
	m.HandleFunc("POST /v1/reviews/{id}/resolve", s.authed(cryptopay.ScopeInvoicesWrite, s.resolveReview))
	m.HandleFunc("GET /v1/reports/suspicious", s.authed(cryptopay.ScopeAuditRead, s.suspiciousReport))
	m.HandleFunc("GET /v1/customers/{customer_reference}/export", s.authed(cryptopay.ScopeInvoicesRead, s.exportCustomer))
	m.HandleFunc("DELETE /v1/customers/{customer_reference}", s.authed(cryptopay.ScopeInvoicesWrite, s.eraseCustomer))

	m.HandleFunc("POST /v1/api_keys", s.authed(cryptopay.ScopeKeysWrite, s.idempotent(s.createAPIKey)))
	m.HandleFunc("GET /v1/api_keys", s.authed(cryptopay.ScopeKeysRead, s.listAPIKeys))
	m.HandleFunc("GET /v1/api_keys/{id}", s.authed(cryptopay.ScopeKeysRead, s.getAPIKey))
	m.HandleFunc("POST /v1/api_keys/{id}/rotate", s.authed(cryptopay.ScopeKeysWrite, s.idempotent(s.rotateAPIKey)))
	m.HandleFunc("POST /v1/api_keys/{id}/revoke", s.authed(cryptopay.ScopeKeysWrite, s.revokeAPIKey))

	m.HandleFunc("POST /v1/webhook_endpoints", s.authed(cryptopay.ScopeWebhooksWrite, s.idempotent(s.createWebhookEndpoint)))
	m.HandleFunc("GET /v1/webhook_endpoints", s.authed(cryptopay.ScopeWebhooksRead, s.listWebhookEndpoints))
	m.HandleFunc("GET /v1/webhook_endpoints/{id}", s.authed(cryptopay.ScopeWebhooksRead, s.getWebhookEndpoint))
	m.HandleFunc("PATCH /v1/webhook_endpoints/{id}", s.authed(cryptopay.ScopeWebhooksWrite, s.updateWebhookEndpoint))
	m.HandleFunc("DELETE /v1/webhook_endpoints/{id}", s.authed(cryptopay.ScopeWebhooksWrite, s.deleteWebhookEndpoint))
	m.HandleFunc("POST /v1/webhook_endpoints/{id}/rotate_secret", s.authed(cryptopay.ScopeWebhooksWrite, s.rotateWebhookSecret))
	m.HandleFunc("POST /v1/webhook_endpoints/{id}/test", s.authed(cryptopay.ScopeWebhooksWrite, s.testWebhookEndpoint))
	m.HandleFunc("GET /v1/webhook_endpoints/{id}/deliveries", s.authed(cryptopay.ScopeWebhooksRead, s.listWebhookDeliveries))
	m.HandleFunc("GET /v1/webhook_deliveries/{id}", s.authed(cryptopay.ScopeWebhooksRead, s.getWebhookDelivery))
	m.HandleFunc("POST /v1/webhook_deliveries/{id}/redeliver", s.authed(cryptopay.ScopeWebhooksWrite, s.redeliverWebhook))
	m.HandleFunc("POST /v1/events/{id}/resend", s.authed(cryptopay.ScopeWebhooksWrite, s.resendEvent))

	// The payer's checkout page: HTML and an event stream, not API, so not
	// in openapi.json. Public: the unguessable invoice id is the credential.
	co := checkout.New(s.svc, s.log)
	co.SetClientAddr(clientBucket) // per-client stream limit: through trusted proxies, IPv6 by /64
	m.HandleFunc("GET /pay/{id}", co.Page)
	m.HandleFunc("GET /pay/{id}/events", co.Events)
	m.HandleFunc("GET /pay/{id}/qr.svg", co.QR)
	m.HandleFunc("GET /pay/{id}/logo", co.Logo)
	m.HandleFunc("GET /pay/{id}/theme.css", co.Theme)
	m.HandleFunc("GET /static/checkout/{file}", co.Asset)

	// The merchant dashboard: HTML pages for people, not API, so not in
	// openapi.json; it registers its own routes under /dashboard/.
	if s.dash != nil {
		d := *s.dash
		d.ClientIP, d.IsHTTPS, d.RequestID = clientIP, isHTTPS, requestID
		dashboard.New(d).Register(m)
	}

	m.HandleFunc("/", s.handle(s.notFound))
}
