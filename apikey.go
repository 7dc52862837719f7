package cryptopay

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// API keys look like cp_live_<32 base62 characters><6 base62 checksum
// characters> (cp_test_ for test mode). The body carries about 190 bits of
// entropy; the checksum (CRC-32 of everything before it) lets a secret
// scanner recognise a leaked key and lets the gateway reject a mistyped key
// before any database lookup. Only a SHA-256 hash of the key is stored: the
// key is high-entropy, so a slow password hash would add latency and no
// safety.
const (
	keyPrefixLive   = "cp_live_"
	keyPrefixTest   = "cp_test_"
	keyBodyLen      = 32
	keyChecksumLen  = 6
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	DefaultKeyTTL   = 90 * 24 * time.Hour
	KeyExpiryNotice = 14 * 24 * time.Hour // responses warn when a key expires within this
	DefaultKeyGrace = 24 * time.Hour      // a rotated key keeps working this long
)

// Scope is one permission an API key can hold.
type Scope string

// The closed set of scopes. A key holds the least it needs.
const (
	ScopeInvoicesRead  Scope = "invoices:read"
	ScopeInvoicesWrite Scope = "invoices:write"
	ScopeEventsRead    Scope = "events:read"
	ScopeWebhooksRead  Scope = "webhooks:read"
	ScopeWebhooksWrite Scope = "webhooks:write"
	ScopeKeysRead      Scope = "keys:read"
	ScopeKeysWrite     Scope = "keys:write"
	ScopeAuditRead     Scope = "audit:read"
	// The store's own settings: its limits (the guide's compliance
	// controls). Writing them is kept apart from invoices:write, so the
	// shop's integration key cannot raise the limits that bound it.
	ScopeSettingsRead  Scope = "settings:read"
	ScopeSettingsWrite Scope = "settings:write"
)

// AllScopes lists every scope, in documentation order.
var AllScopes = []Scope{
	ScopeInvoicesRead, ScopeInvoicesWrite, ScopeEventsRead,
	ScopeWebhooksRead, ScopeWebhooksWrite, ScopeKeysRead, ScopeKeysWrite, ScopeAuditRead,
	ScopeSettingsRead, ScopeSettingsWrite,
}

// ParseScopes validates a list of scope names: each must be known, none
// repeated, at least one given. The result is sorted.
func ParseScopes(param string, names []string) ([]Scope, error) {
	if len(names) == 0 {
		return nil, Invalid(param, "%s must name at least one scope.", param)
	}
	out := make([]Scope, 0, len(names))
	for _, n := range names {
		s := Scope(n)
		if !slices.Contains(AllScopes, s) {
			return nil, Invalid(param, "%s: unknown scope %q.", param, n)
		}
		if slices.Contains(out, s) {
			return nil, Invalid(param, "%s: scope %q is listed twice.", param, n)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// APIKey is a stored API key: everything but the secret itself.
type APIKey struct {
	ID         string
	StoreID    string
	Name       string
	Livemode   bool
	Hash       []byte // SHA-256 of the full key
	Last4      string
	Scopes     []Scope
	AllowedIPs []string // CIDRs; empty allows any address
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time // set on revocation, or to the end of the grace window on rotation
	LastUsedAt *time.Time
	LastUsedIP string
	RotatedTo  string // id of the key that replaced this one
}

// Has reports whether the key holds scope s.
func (k *APIKey) Has(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Excess says what a key holds beyond another: the field ("scopes",
// "allowed_ips" or "expires_at") and the value that exceeds.
type Excess struct {
	Field  string
	Detail string
}

// Exceeds reports what t may do that k may not, or nil when t is within k:
// every scope of t is held by k; every network t may be used from lies
// inside one of k's (a key without allowlist may be used from anywhere, so
// it bounds nothing, and a t without allowlist exceeds any k that has
// one); and t expires no later than k. An API key may create, rotate or
// revoke only keys within itself, so no key can mint or seize more power
// than it has.
func (k *APIKey) Exceeds(t *APIKey) *Excess {
	for _, s := range t.Scopes {
		if !k.Has(s) {
			return &Excess{Field: "scopes", Detail: "scope " + string(s)}
		}
	}
	if len(k.AllowedIPs) > 0 {
		if len(t.AllowedIPs) == 0 {
			return &Excess{Field: "allowed_ips", Detail: "use from any address"}
		}
		for _, n := range t.AllowedIPs {
			if !networkWithin(n, k.AllowedIPs) {
				return &Excess{Field: "allowed_ips", Detail: "use from " + n}
			}
		}
	}
	if t.ExpiresAt.After(k.ExpiresAt) {
		return &Excess{Field: "expires_at", Detail: "expiry at " + t.ExpiresAt.UTC().Format(time.RFC3339)}
	}
	return nil
}

// networkWithin reports whether the network n (a CIDR) lies inside one of
// outer. Anything unparsable is outside.
func networkWithin(n string, outer []string) bool {
	p, err := netip.ParsePrefix(n)
	if err != nil {
		return false
	}
	for _, o := range outer {
		q, err := netip.ParsePrefix(o)
		if err == nil && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// Active reports whether the key may be used at time now.
func (k *APIKey) Active(now time.Time) bool {
	if k.RevokedAt != nil && !now.Before(*k.RevokedAt) {
		return false
	}
	return now.Before(k.ExpiresAt)
}

// NewAPIKeySecret returns a fresh secret key string for the given mode.
func NewAPIKeySecret(livemode bool) string {
	prefix := keyPrefixTest
	if livemode {
		prefix = keyPrefixLive
	}
	var body strings.Builder
	buf := make([]byte, 1)
	for body.Len() < keyBodyLen {
		if _, err := rand.Read(buf); err != nil {
			panic("cryptopay: crypto/rand failed: " + err.Error())
		}
		if buf[0] >= 248 { // 248 = 4*62: reject to keep the alphabet uniform
			continue
		}
		body.WriteByte(base62[buf[0]%62])
	}
	s := prefix + body.String()
	return s + keyChecksum(s)
}

func keyChecksum(s string) string {
	sum := keyChecksumOf(s)
	return string(sum[:])
}

// keyChecksumOf is the CRC-32 of s in keyChecksumLen base62 digits, most
// significant first (62^6 exceeds 2^32, so every checksum fits). It is
// computed in a machine word, without allocating: it runs on every
// authenticated request.
func keyChecksumOf(s string) [keyChecksumLen]byte {
	n := crc32.ChecksumIEEE([]byte(s))
	var out [keyChecksumLen]byte
	for i := keyChecksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return out
}

// ParseAPIKeySecret checks the shape and checksum of a presented key and
// returns its mode. It does no lookup. ok is false for anything malformed.
func ParseAPIKeySecret(s string) (livemode bool, ok bool) {
	var body string
	switch {
	case strings.HasPrefix(s, keyPrefixLive):
		livemode, body = true, s[len(keyPrefixLive):]
	case strings.HasPrefix(s, keyPrefixTest):
		body = s[len(keyPrefixTest):]
	default:
		return false, false
	}
	if len(body) != keyBodyLen+keyChecksumLen {
		return false, false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(base62, body[i]) < 0 {
			return false, false
		}
	}
	head := s[:len(s)-keyChecksumLen]
	sum := keyChecksumOf(head)
	return livemode, string(sum[:]) == s[len(s)-keyChecksumLen:]
}

// HashAPIKeySecret returns the stored form of a key.
func HashAPIKeySecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// APIKeyLast4 returns the last four characters, safe to display.
func APIKeyLast4(s string) string { return s[len(s)-4:] }

// HashHex is the hex form of a key hash, for logs that must correlate keys
// without revealing them.
func HashHex(h []byte) string { return hex.EncodeToString(h[:8]) }
