// Package cryptopay is the domain of the CryptoPay payment gateway: stores
// (merchants), invoices and their state machine, payments, exact amounts and
// currencies, API keys and scopes, events, and the closed set of error codes.
//
// It imports only the standard library. Storage engines, chain sources, the
// HTTP API, webhook delivery and the command line live under internal/ and
// depend on this package, never the other way round.
package cryptopay
