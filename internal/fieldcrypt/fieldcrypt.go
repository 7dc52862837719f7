// Package fieldcrypt encrypts individual sensitive fields at rest (webhook
// secrets, invoice metadata, customer references) with AES-256-GCM. Every
// sealed value names the key that sealed it, so keys can rotate: new values
// use the primary key, old values stay readable until re-encrypted.
//
// A Keyring without keys seals nothing: values are stored with a "plain"
// marker so they can be encrypted later by a rotation. Live mode refuses to
// start without a key; that policy lives with the caller, not here.
//
// It is not a key manager: keys come from the environment or a file.
package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Errors. A tampered or truncated ciphertext is always an error, never
// garbage.
var (
	ErrUnknownKey = errors.New("fieldcrypt: value sealed with an unknown key")
	ErrTampered   = errors.New("fieldcrypt: ciphertext failed authentication")
	ErrMalformed  = errors.New("fieldcrypt: malformed sealed value")
	ErrBadKey     = errors.New("fieldcrypt: a key must be 32 bytes, given as 64 hex or 44 base64 characters")
)

const (
	plainPrefix = "plain:"
	sealPrefix  = "v1:"
)

// Keyring holds the keys that may open values and the primary key that
// seals new ones. It is immutable and safe for concurrent use.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	audit   map[string][]byte // key id → audit chain MAC key (AuditKey)
}

// Key is one 32-byte AES-256 key. Its id is derived from the key itself
// (a truncated SHA-256), so an operator never has to name keys.
type Key [32]byte

// ParseKey reads a key written as 64 hex characters or standard base64.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var k Key
	var b []byte
	var err error
	if len(s) == 64 {
		b, err = hex.DecodeString(s)
	} else {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != 32 {
		return k, ErrBadKey
	}
	copy(k[:], b)
	return k, nil
}

// ID returns the key's public identifier: 8 hex characters.
func (k Key) ID() string {
	h := sha256.Sum256(append([]byte("cryptopay fieldcrypt key id\x00"), k[:]...))
	return hex.EncodeToString(h[:4])
}

// NewKeyring returns a keyring whose primary (sealing) key is keys[0]; the
// others only open old values. With no keys it seals nothing.
func NewKeyring(keys ...Key) (*Keyring, error) {
	r := &Keyring{aeads: map[string]cipher.AEAD{}, audit: map[string][]byte{}}
	for i, k := range keys {
		block, err := aes.NewCipher(k[:])
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			r.primary = k.ID()
		}
		r.aeads[k.ID()] = aead
		mac, err := hkdf.Key(sha256.New, k[:], nil, auditKeyInfo, 32)
		if err != nil {
			return nil, err
		}
		r.audit[k.ID()] = mac
	}
	return r, nil
}

// auditKeyInfo separates the audit MAC key from the sealing key derived
// from the same material: knowing one tells nothing about the other.
const auditKeyInfo = "cryptopay audit chain mac v2"

// AuditKey returns the HMAC-SHA256 key that keys the audit log's hash
// chain for the encryption key with this id: derived from the key with
// HKDF-SHA256, so it lives wherever the encryption keys live and never in
// the database. ok is false for a key the keyring lacks.
func (r *Keyring) AuditKey(id string) (key []byte, ok bool) {
	if r == nil {
		return nil, false
	}
	key, ok = r.audit[id]
	return key, ok
}

// Enabled reports whether the keyring seals values.
func (r *Keyring) Enabled() bool { return r != nil && r.primary != "" }

// PrimaryID returns the id of the sealing key, or "".
func (r *Keyring) PrimaryID() string {
	if r == nil {
		return ""
	}
	return r.primary
}

// Seal encrypts plaintext bound to aad (the row and column it belongs to,
// so a value cannot be moved to another row). Without a key it returns the
// plaintext behind the plain marker.
func (r *Keyring) Seal(plaintext, aad []byte) (string, error) {
	if !r.Enabled() {
		return plainPrefix + base64.RawStdEncoding.EncodeToString(plaintext), nil
	}
	aead := r.aeads[r.primary]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("fieldcrypt: nonce: %w", err)
	}
	ct := aead.Seal(nonce, nonce, plaintext, aad)
	return sealPrefix + r.primary + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

// Open decrypts a value sealed by Seal with the same aad.
func (r *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	if rest, ok := strings.CutPrefix(sealed, plainPrefix); ok {
		b, err := base64.RawStdEncoding.DecodeString(rest)
		if err != nil {
			return nil, ErrMalformed
		}
		return b, nil
	}
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, ErrMalformed
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, ErrMalformed
	}
	var aead cipher.AEAD
	if r != nil {
		aead = r.aeads[id]
	}
	if aead == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, id)
	}
	ct, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil || len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrMalformed
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// KeyID returns the id of the key that sealed a value, "" for a plain one,
// so a rotation can find values still sealed with an old key.
func KeyID(sealed string) string {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ":")
	return id
}

// NeedsReseal reports whether a value is not sealed with the primary key.
func (r *Keyring) NeedsReseal(sealed string) bool {
	return r.Enabled() && KeyID(sealed) != r.primary
}
