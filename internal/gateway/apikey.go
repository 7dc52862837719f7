package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// KeyParams describes a new API key.
type KeyParams struct {
	StoreID    string
	Name       string
	Livemode   bool
	Scopes     []string
	TTL        time.Duration // 0: 90 days
	AllowedIPs []string      // CIDRs or single addresses
	// ID, when set, is the new key's id, minted with the form that asks
	// for the key (the dashboard's one-time form, NewFormKeyID): a second
	// request with the same id is ErrKeyFormUsed and creates nothing, so a
	// form sent twice (a reload of the page that showed the secret) never
	// makes a second key or shows a secret again.
	ID string
}

// ErrKeyFormUsed: a key with the requested id exists; its secret was
// shown once, to the request that created it.
var ErrKeyFormUsed = &cryptopay.Error{Code: cryptopay.CodeConflict, Param: "form",
	Message: "This form was already sent: its key exists, and its secret was shown once, when it was created. It is never shown again; rotate the key for a new secret."}

// NewFormKeyID mints the id of a key a form will create (KeyParams.ID).
func (s *Service) NewFormKeyID() string { return cryptopay.NewID(cryptopay.PrefixAPIKey, s.Now()) }

// CreatedKey is a key together with its secret, which is shown exactly once.
type CreatedKey struct {
	Key    *cryptopay.APIKey
	Secret string
}

// CreateKey creates a key for an operator (the command line), who is not
// bounded by any key. Callers on the API go through CreateKeyAs.
func (s *Service) CreateKey(ctx context.Context, p KeyParams) (*CreatedKey, error) {
	return s.createKey(ctx, nil, p)
}

// createKey creates a key; a non-nil caller bounds it (see CreateKeyAs).
func (s *Service) createKey(ctx context.Context, caller *cryptopay.APIKey, p KeyParams) (*CreatedKey, error) {
	st, err := s.GetStore(ctx, p.StoreID)
	if err != nil {
		return nil, err
	}
	if st.Livemode != p.Livemode {
		return nil, cryptopay.Invalid("livemode", "a %s key cannot be created for a %s store.", modeName(p.Livemode), modeName(st.Livemode))
	}
	scopes, err := cryptopay.ParseScopes("scopes", p.Scopes)
	if err != nil {
		return nil, err
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = cryptopay.DefaultKeyTTL
	}
	if ttl < time.Hour || ttl > 366*24*time.Hour {
		return nil, cryptopay.Invalid("expires_in", "expires_in must be between one hour and 366 days.")
	}
	allowed, err := parseAllowedIPs(p.AllowedIPs)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(p.Name)
	if err := validateText("name", name, 100, false); err != nil {
		return nil, err
	}
	now := s.Now()
	id := cryptopay.NewID(cryptopay.PrefixAPIKey, now)
	if p.ID != "" {
		if !cryptopay.ValidID(cryptopay.PrefixAPIKey, p.ID) {
			return nil, cryptopay.Invalid("form", "The form's key id is malformed; reload the page.")
		}
		id = p.ID
	}
	secret := cryptopay.NewAPIKeySecret(p.Livemode)
	k := &cryptopay.APIKey{
		ID:         id,
		StoreID:    st.ID,
		Name:       name,
		Livemode:   p.Livemode,
		Hash:       cryptopay.HashAPIKeySecret(secret),
		Last4:      cryptopay.APIKeyLast4(secret),
		Scopes:     scopes,
		AllowedIPs: allowed,
		CreatedAt:  now,
		ExpiresAt:  now.Add(ttl),
	}
	if caller != nil {
		if p.TTL == 0 && k.ExpiresAt.After(caller.ExpiresAt) {
			// The default lifetime never outlives the key asking for it;
			// an explicit expires_in beyond it is refused below.
			k.ExpiresAt = caller.ExpiresAt
		}
		if x := caller.Exceeds(k); x != nil {
			return nil, s.refuseKeyAction(ctx, caller, "create", "", x)
		}
	}
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := ClaimIdempotencyKey(ctx, tx, true); err != nil {
			return err
		}
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: k.StoreID, Livemode: k.Livemode, Action: AuditKeyCreated,
			Target: k.ID, Details: map[string]any{"name": k.Name, "scopes": k.Scopes, "allowed_ips": k.AllowedIPs,
				"expires_at": k.ExpiresAt.Format(time.RFC3339)}})
	})
	if ce, ok := errors.AsType[*storage.ConflictError](err); ok && ce.Constraint == "api_keys_pkey" && p.ID != "" {
		return nil, ErrKeyFormUsed
	}
	if err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	return &CreatedKey{Key: k, Secret: secret}, nil
}

// CreateKeyAs creates a key on behalf of caller: same store, same mode,
// and within the caller (see cryptopay.APIKey.Exceeds): no scope it does
// not hold, no address it may not be used from, no later expiry. Without
// expires_in the new key expires with the caller when that is sooner than
// the default. Anything beyond is a CodeKeyExceedsCaller error naming it.
func (s *Service) CreateKeyAs(ctx context.Context, caller *cryptopay.APIKey, p KeyParams) (*CreatedKey, error) {
	p.StoreID, p.Livemode = caller.StoreID, caller.Livemode
	return s.createKey(ctx, caller, p)
}

// AuditKeyRefused records an API key's refused attempt to create, rotate
// or revoke a key with more power than its own.
const AuditKeyRefused = "api_key.action_refused"

// refuseKeyAction records that caller tried to act (create, rotate,
// revoke) on a key beyond itself and returns the client error. The audit
// entry is written in its own transaction: the refused action's
// transaction, if any, rolls back.
func (s *Service) refuseKeyAction(ctx context.Context, caller *cryptopay.APIKey, action, targetID string, x *cryptopay.Excess) error {
	var e *cryptopay.Error
	if action == "create" {
		param := x.Field
		if param == "expires_at" {
			param = "expires_in"
		}
		e = &cryptopay.Error{Code: cryptopay.CodeKeyExceedsCaller, Param: param, Message: fmt.Sprintf(
			"An API key cannot create a key with more power than its own: %s exceeds this key (%s).", param, x.Detail)}
	} else {
		e = &cryptopay.Error{Code: cryptopay.CodeKeyExceedsCaller, Param: "id", Message: fmt.Sprintf(
			"An API key may %s only keys within its own scopes, allowed addresses and expiry; API key %s exceeds this key in %s (%s).",
			action, targetID, x.Field, x.Detail)}
	}
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		return s.Audit(ctx, tx, AuditRecord{StoreID: caller.StoreID, Livemode: caller.Livemode, Action: AuditKeyRefused,
			Target: targetID, Details: map[string]any{"action": action, "exceeds": x.Field, "detail": x.Detail}})
	})
	if err != nil {
		// The refusal stands; only its record is missing.
		s.log.WarnContext(ctx, "audit refused api key action", "key", caller.ID, "action", action, "err", err)
	}
	return e
}

func parseAllowedIPs(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for i, s := range in {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked().String())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()).String())
			continue
		}
		return nil, cryptopay.Invalid(fmt.Sprintf("allowed_ips[%d]", i), "%q is not an IP address or CIDR.", s)
	}
	return out, nil
}

// GetKey returns a key of the caller's store.
func (s *Service) GetKey(ctx context.Context, caller *cryptopay.APIKey, id string) (*cryptopay.APIKey, error) {
	if !cryptopay.ValidID(cryptopay.PrefixAPIKey, id) {
		return nil, cryptopay.Invalid("id", "%q is not an API key id.", id)
	}
	k, err := s.db.GetAPIKey(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && !visibleTo(caller, k.StoreID, k.Livemode) {
		return nil, notFound("api key", id)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ListKeys lists a store's keys (without secrets, which are never stored).
func (s *Service) ListKeys(ctx context.Context, storeID string) ([]cryptopay.APIKey, error) {
	return s.db.ListAPIKeys(ctx, storeID)
}

// RotateKey issues a replacement for key id with the same store, mode,
// name, scopes and allowlist. The old key keeps working for grace (a
// negative grace means the default, 24 hours; 0 stops it at once) and then
// stops. A non-nil caller may rotate only a key within itself (else a
// CodeKeyExceedsCaller error); the replacement keeps the old key's
// lifetime when a key rotates itself, and otherwise never outlives the
// caller.
func (s *Service) RotateKey(ctx context.Context, caller *cryptopay.APIKey, id string, grace time.Duration) (*CreatedKey, error) {
	if grace < 0 {
		grace = cryptopay.DefaultKeyGrace
	}
	if grace > 7*24*time.Hour {
		return nil, cryptopay.Invalid("grace_period", "grace_period must be at most 7 days.")
	}
	var out *CreatedKey
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		// Claimed first, so a concurrent duplicate waits here rather than
		// reading the old key before this rotation commits.
		if err := ClaimIdempotencyKey(ctx, tx, true); err != nil {
			return err
		}
		old, err := s.keyForUpdate(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		now := s.Now()
		secret := cryptopay.NewAPIKeySecret(old.Livemode)
		nk := &cryptopay.APIKey{
			ID:         cryptopay.NewID(cryptopay.PrefixAPIKey, now),
			StoreID:    old.StoreID,
			Name:       old.Name,
			Livemode:   old.Livemode,
			Hash:       cryptopay.HashAPIKeySecret(secret),
			Last4:      cryptopay.APIKeyLast4(secret),
			Scopes:     old.Scopes,
			AllowedIPs: old.AllowedIPs,
			CreatedAt:  now,
			ExpiresAt:  now.Add(old.ExpiresAt.Sub(old.CreatedAt)),
		}
		if caller != nil && caller.ID != old.ID && nk.ExpiresAt.After(caller.ExpiresAt) {
			nk.ExpiresAt = caller.ExpiresAt
		}
		if err := tx.CreateAPIKey(ctx, nk); err != nil {
			return err
		}
		until := now.Add(grace)
		if old.RevokedAt == nil || until.Before(*old.RevokedAt) {
			old.RevokedAt = &until
		}
		old.RotatedTo = nk.ID
		if err := tx.UpdateAPIKey(ctx, old); err != nil {
			return err
		}
		out = &CreatedKey{Key: nk, Secret: secret}
		return s.Audit(ctx, tx, AuditRecord{StoreID: old.StoreID, Livemode: old.Livemode, Action: AuditKeyRotated,
			Target: old.ID, Details: map[string]any{"new_key": nk.ID, "old_key_stops_at": until.Format(time.RFC3339)}})
	})
	s.forgetKeys() // even on error: the commit may have happened
	if x, ok := errors.AsType[*keyExcessError](err); ok {
		return nil, s.refuseKeyAction(ctx, caller, "rotate", id, x.excess)
	}
	return out, err
}

// RevokeKey stops key id immediately. A non-nil caller may revoke only a
// key within itself (else a CodeKeyExceedsCaller error), its own included.
func (s *Service) RevokeKey(ctx context.Context, caller *cryptopay.APIKey, id string) (*cryptopay.APIKey, error) {
	var out *cryptopay.APIKey
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		k, err := s.keyForUpdate(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		now := s.Now()
		k.RevokedAt = &now
		out = k
		if err := tx.UpdateAPIKey(ctx, k); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: k.StoreID, Livemode: k.Livemode, Action: AuditKeyRevoked, Target: k.ID})
	})
	s.forgetKeys() // even on error: the commit may have happened
	if x, ok := errors.AsType[*keyExcessError](err); ok {
		return nil, s.refuseKeyAction(ctx, caller, "revoke", id, x.excess)
	}
	return out, err
}

// keyExcessError carries a refusal out of the transaction it rolls back,
// so that the refusal can be audited in a transaction of its own.
type keyExcessError struct{ excess *cryptopay.Excess }

func (e *keyExcessError) Error() string { return "api key exceeds caller: " + e.excess.Field }

func (s *Service) keyForUpdate(ctx context.Context, tx storage.Tx, caller *cryptopay.APIKey, id string) (*cryptopay.APIKey, error) {
	if !cryptopay.ValidID(cryptopay.PrefixAPIKey, id) {
		return nil, cryptopay.Invalid("id", "%q is not an API key id.", id)
	}
	k, err := tx.GetAPIKey(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && !visibleTo(caller, k.StoreID, k.Livemode) {
		return nil, notFound("api key", id)
	}
	if err != nil {
		return nil, err
	}
	if caller != nil {
		if x := caller.Exceeds(k); x != nil {
			return nil, &keyExcessError{excess: x}
		}
	}
	if k.RevokedAt != nil && !s.Now().Before(*k.RevokedAt) {
		return nil, cryptopay.Errorf(cryptopay.CodeConflict, "API key %s is already revoked.", id)
	}
	return k, nil
}

// visibleTo reports whether an object of store storeID and mode live is
// visible to caller (nil: the operator sees everything). An object of
// another store or of the other mode is not found, exactly like one that
// does not exist, so a key cannot learn that an id exists elsewhere.
func visibleTo(caller *cryptopay.APIKey, storeID string, live bool) bool {
	return caller == nil || caller.StoreID == storeID && caller.Livemode == live
}

// AuthFailure names why a presented key was refused. It is logged and
// counted, never shown to the client, who sees one generic message.
type AuthFailure string

// Reasons a key is refused.
const (
	AuthMissing   AuthFailure = "missing"
	AuthMalformed AuthFailure = "malformed"
	AuthUnknown   AuthFailure = "unknown"
	AuthRevoked   AuthFailure = "revoked"
	AuthExpired   AuthFailure = "expired"
	AuthIP        AuthFailure = "ip_not_allowed"
)

// AuthError is returned by Authenticate. It unwraps to a client-safe
// *cryptopay.Error with a generic message.
type AuthError struct {
	Reason AuthFailure
	KeyID  string // "" unless the key was found
}

func (e *AuthError) Error() string { return "authentication failed: " + string(e.Reason) }

// Unwrap returns the generic client error: 401 for anything about the key
// itself, 403 for a valid key used from a disallowed address.
func (e *AuthError) Unwrap() error {
	if e.Reason == AuthIP {
		return cryptopay.Errorf(cryptopay.CodeForbidden, "This API key may not be used from this address.")
	}
	return cryptopay.Errorf(cryptopay.CodeUnauthenticated, "Invalid API key provided. Pass a valid key as 'Authorization: Bearer cp_...'.")
}

// Authenticate resolves a presented secret to its key. A malformed or
// mistyped key (bad checksum) is refused before any lookup; every failure
// is an *AuthError and is counted.
func (s *Service) Authenticate(ctx context.Context, secret string, ip netip.Addr) (*cryptopay.APIKey, error) {
	fail := func(r AuthFailure, k *cryptopay.APIKey) (*cryptopay.APIKey, error) {
		s.counts.add(r)
		s.noteAuthFailure(r, ip, k, s.Now())
		id := ""
		if k != nil {
			id = k.ID
		}
		return nil, &AuthError{Reason: r, KeyID: id}
	}
	if secret == "" {
		return fail(AuthMissing, nil)
	}
	hash := cryptopay.HashAPIKeySecret(secret) // hashed on every path so failures cost alike
	if _, ok := cryptopay.ParseAPIKeySecret(secret); !ok {
		return fail(AuthMalformed, nil)
	}
	k, err := s.keyByHash(ctx, hash) // apikeycache.go
	if errors.Is(err, storage.ErrNotFound) {
		return fail(AuthUnknown, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.Now()
	switch {
	case k.RevokedAt != nil && !now.Before(*k.RevokedAt):
		return fail(AuthRevoked, k)
	case !now.Before(k.ExpiresAt):
		return fail(AuthExpired, k)
	case !ipAllowed(k.AllowedIPs, ip):
		return fail(AuthIP, k)
	}
	s.noteUse(ctx, k, ip, now)
	return k, nil
}

func ipAllowed(cidrs []string, ip netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// AuthFailures returns the number of refused keys by reason since start.
func (s *Service) AuthFailures() map[AuthFailure]int64 { return s.counts.snapshot() }

type authCounters struct{ m sync.Map } // AuthFailure → *atomic.Int64

func (c *authCounters) add(r AuthFailure) {
	v, _ := c.m.LoadOrStore(r, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (c *authCounters) snapshot() map[AuthFailure]int64 {
	out := map[AuthFailure]int64{}
	c.m.Range(func(k, v any) bool { out[k.(AuthFailure)] = v.(*atomic.Int64).Load(); return true })
	return out
}

// keyUsage throttles last_used_at writes: one per key per minute, or at
// once when the key is used from a new address. Writing on every request
// would put a write transaction on every read.
type keyUsage struct {
	mu   sync.Mutex
	last map[string]usage
}

type usage struct {
	at   time.Time
	ip   string     // the address as recorded (LastUsedIP's form)
	addr netip.Addr // ip parsed, when the use was noted here (else invalid)
}

// from reports whether the use was from ip (unmapped), comparing the
// parsed address when there is one so that a repeated use formats
// nothing.
func (u usage) from(ip netip.Addr) bool {
	if u.addr.IsValid() {
		return u.addr == ip
	}
	return u.ip == addrText(ip)
}

// addrText is an address as LastUsedIP records it: "" for none.
func addrText(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

const usageWriteEvery = time.Minute

func (s *Service) noteUse(ctx context.Context, k *cryptopay.APIKey, ip netip.Addr, now time.Time) {
	ip = ip.Unmap()
	s.usage.mu.Lock()
	if s.usage.last == nil {
		s.usage.last = map[string]usage{}
	}
	prev, seen := s.usage.last[k.ID]
	if !seen && k.LastUsedAt != nil {
		prev, seen = usage{at: *k.LastUsedAt, ip: k.LastUsedIP}, true
	}
	newIP := !prev.from(ip) // a first use counts as new too: a stolen key is often used once
	due := !seen || now.Sub(prev.at) >= usageWriteEvery || newIP
	ips := ""
	if due {
		ips = addrText(ip)
		s.usage.last[k.ID] = usage{at: now, ip: ips, addr: ip}
	}
	s.usage.mu.Unlock()
	if !due {
		return
	}
	k.LastUsedAt, k.LastUsedIP = &now, ips
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.TouchAPIKey(ctx, k.ID, now, ips); err != nil || !newIP {
			return err
		}
		actx := WithActor(ctx, Actor{KeyID: k.ID, IP: ips, RequestID: ActorFrom(ctx).RequestID})
		return s.Audit(actx, tx, AuditRecord{StoreID: k.StoreID, Livemode: k.Livemode, Action: AuditKeyNewIP,
			Target: k.ID, Details: map[string]any{"previous_ip": prev.ip}})
	})
	if err != nil {
		// Usage tracking must not fail the request it describes.
		s.log.WarnContext(ctx, "record api key use", "key", k.ID, "err", err)
	}
}
