package httpapi

import "github.com/cryptopay/cryptopay"

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

	m.HandleFunc("GET /v1/events", s.authed(cryptopay.ScopeEventsRead, s.listEvents))

	m.HandleFunc("POST /v1/api_keys", s.authed(cryptopay.ScopeKeysWrite, s.idempotent(s.createAPIKey)))
	m.HandleFunc("GET /v1/api_keys", s.authed(cryptopay.ScopeKeysRead, s.listAPIKeys))
	m.HandleFunc("GET /v1/api_keys/{id}", s.authed(cryptopay.ScopeKeysRead, s.getAPIKey))
	m.HandleFunc("POST /v1/api_keys/{id}/rotate", s.authed(cryptopay.ScopeKeysWrite, s.rotateAPIKey))
	m.HandleFunc("POST /v1/api_keys/{id}/revoke", s.authed(cryptopay.ScopeKeysWrite, s.revokeAPIKey))

	m.HandleFunc("/", s.handle(s.notFound))
}
