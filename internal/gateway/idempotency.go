package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/shred"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// IdempotencyRetention is how long a stored response stays replayable.
// Stripe promises 24 hours; records are kept twice that so a retry at the
// edge of the window never runs twice.
const IdempotencyRetention = 48 * time.Hour

// PruneIdempotencyRecords deletes responses older than the retention and
// returns how many it removed. serve calls it hourly.
func (s *Service) PruneIdempotencyRecords(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		var err error
		n, err = tx.DeleteIdempotencyRecords(ctx, s.Now().Add(-IdempotencyRetention))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune idempotency records: %w", err)
	}
	return n, nil
}

// IdempotencyClaim is a request's Idempotency-Key on its way from the HTTP
// layer to the transaction that makes the request's effect. The record is
// written in that transaction, before the effect: the effect and its record
// commit together or not at all, and a concurrent request with the same key
// waits for that transaction (PostgreSQL) or runs after it (SQLite's one
// writer) and then finds the record instead of making the effect again.
type IdempotencyClaim struct {
	APIKeyID    string // records are scoped to the calling API key
	Key         string
	Method      string
	Path        string
	RequestHash []byte
	CreatedAt   time.Time

	mu      sync.Mutex
	claimed bool // the record was written (its transaction may still fail)
	secret  bool // the response carries a secret: the record is final
	taken   bool // another request already holds the key
}

type idempotencyClaimKey struct{}

// WithIdempotencyClaim returns ctx carrying c.
func WithIdempotencyClaim(ctx context.Context, c *IdempotencyClaim) context.Context {
	return context.WithValue(ctx, idempotencyClaimKey{}, c)
}

// ErrIdempotencyKeyTaken is returned by ClaimIdempotencyKey when another
// request made with the same API key and Idempotency-Key has its record;
// the effect's transaction must roll back.
var ErrIdempotencyKeyTaken = errors.New("gateway: idempotency key already used")

// idempotencyClaimed reports whether ctx carries an idempotency claim for
// the request's transaction to write (ClaimIdempotencyKey).
func idempotencyClaimed(ctx context.Context) bool {
	c, _ := ctx.Value(idempotencyClaimKey{}).(*IdempotencyClaim)
	return c != nil
}

// ClaimIdempotencyKey writes the claim ctx carries, if any, into tx. Every
// operation reachable through an idempotent route calls it first in the
// transaction of its effect; without a claim it does nothing.
// carriesSecret says the response will hold a secret (an API key, a
// webhook signing secret): its record is final at once and a replay is
// refused, so the secret is never stored and never shown twice.
func ClaimIdempotencyKey(ctx context.Context, tx storage.Tx, carriesSecret bool) error {
	c, _ := ctx.Value(idempotencyClaimKey{}).(*IdempotencyClaim)
	if c == nil {
		return nil
	}
	state := storage.IdempotencyPending
	if carriesSecret {
		state = storage.IdempotencySecretShown
	}
	err := tx.PutIdempotencyRecord(ctx, &storage.IdempotencyRecord{APIKeyID: c.APIKeyID, Key: c.Key,
		Method: c.Method, Path: c.Path, RequestHash: c.RequestHash, State: state, CreatedAt: c.CreatedAt})
	c.mu.Lock()
	defer c.mu.Unlock()
	if ce, ok := errors.AsType[*storage.ConflictError](err); ok && ce.Constraint == "idempotency_records_pkey" {
		c.taken = true
		return ErrIdempotencyKeyTaken
	}
	if err != nil {
		return err
	}
	c.claimed, c.secret = true, carriesSecret
	return nil
}

// Outcome reports what the request's transaction did with the claim:
// claimed (the record was written, pending or final when secret), or
// taken (another request holds the key).
func (c *IdempotencyClaim) Outcome() (claimed, secret, taken bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimed, c.secret, c.taken
}

// Stored responses and erasure. A response about an invoice (creation,
// manual resolution) carries the invoice's customer_reference and
// personal metadata; kept as is in its idempotency record, it would hold
// them in the clear until pruned, beyond the reach of erasure. So when
// the invoice has a data subject, the whole stored body is sealed with
// the subject's key (bound to the invoice id), and erasing the customer
// makes it as unreadable as the invoice's own fields. The invoice id
// stays readable beside it, so a replay after erasure can still answer
// with the invoice (see OpenStoredResponse).

// storedPrefix starts a stored body sealed with a subject key:
// "cpsubj1:<invoice id>:<envelope>". A JSON body starts with '{'.
const storedPrefix = "cpsubj1:"

// ErrStoredResponseErased: the stored response was sealed with the key of
// a customer since erased; only the invoice id remains.
var ErrStoredResponseErased = errors.New("gateway: the stored response belonged to an erased customer")

func storedAAD(invoiceID string) []byte { return []byte("cryptopay:idempotency:" + invoiceID) }

// SealStoredResponse returns the form in which a response body about
// invoiceID is kept in an idempotency record: sealed with the key of the
// invoice's data subject, or body itself for an invoice without one (no
// customer_reference, or no subject key vault).
func (s *Service) SealStoredResponse(ctx context.Context, invoiceID string, body []byte) ([]byte, error) {
	inv, err := s.db.GetInvoice(ctx, invoiceID) // stored form: the subject envelopes, not the values
	if err != nil {
		return nil, fmt.Errorf("seal stored response: %w", err)
	}
	subject, ok := shred.SubjectOf(inv.CustomerReference)
	if !ok {
		return body, nil
	}
	if s.compliance.vault == nil {
		return nil, errors.New("gateway: seal stored response: the invoice has a data subject but no subject key vault is configured")
	}
	key, err := s.compliance.vault.KeyByID(ctx, subject)
	if errors.Is(err, shred.ErrErased) {
		return []byte(storedPrefix + invoiceID + ":"), nil // erased already: keep only the invoice id
	}
	if err != nil {
		return nil, fmt.Errorf("seal stored response: %w", err)
	}
	env, err := shred.Seal(subject, key, body, storedAAD(invoiceID))
	if err != nil {
		return nil, err
	}
	return []byte(storedPrefix + invoiceID + ":" + env), nil
}

// OpenStoredResponse returns the body of a stored response and, if it was
// sealed, the invoice it is about. A body sealed with the key of an
// erased customer is ErrStoredResponseErased, with the invoice id.
func (s *Service) OpenStoredResponse(ctx context.Context, stored []byte) (body []byte, invoiceID string, err error) {
	rest, ok := strings.CutPrefix(string(stored), storedPrefix)
	if !ok {
		return stored, "", nil
	}
	invoiceID, env, ok := strings.Cut(rest, ":")
	if !ok || !cryptopay.ValidID(cryptopay.PrefixInvoice, invoiceID) {
		return nil, "", errors.New("gateway: malformed stored response")
	}
	if env == "" {
		return nil, invoiceID, ErrStoredResponseErased
	}
	subject, ok := shred.SubjectOf(env)
	if !ok {
		return nil, "", errors.New("gateway: malformed stored response")
	}
	if s.compliance.vault == nil {
		return nil, invoiceID, errors.New("gateway: a stored response is sealed with a subject key, but no subject key vault is configured (CRYPTOPAY_SUBJECT_VAULT)")
	}
	key, err := s.compliance.vault.KeyByID(ctx, subject)
	if errors.Is(err, shred.ErrErased) {
		return nil, invoiceID, ErrStoredResponseErased
	}
	if err != nil {
		return nil, invoiceID, err
	}
	body, err = shred.OpenEnvelope(env, key, storedAAD(invoiceID))
	if err != nil {
		return nil, invoiceID, fmt.Errorf("stored response of invoice %s: %w", invoiceID, err)
	}
	return body, invoiceID, nil
}
