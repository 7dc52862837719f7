// Package password hashes and checks dashboard passwords with argon2id
// (RFC 9106), stored as PHC strings:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt, base64>$<key, base64>
//
// The parameters travel with each hash, so they can be raised later: a
// hash made with weaker parameters still verifies, and NeedsRehash tells
// the caller to store a new one at the next successful sign-in.
//
// It is not an account system: lockout, rate limits and sessions live in
// the gateway service.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// Default is RFC 9106's second recommended option (section 4): 64 MiB,
// 3 passes, 4 lanes, a 16-byte salt and a 32-byte key. On one core of a
// small server a check takes about 100 ms, which bounds a password guesser
// that got hold of the database to roughly ten guesses a second per core.
var Default = Params{Memory: 64 * 1024, Time: 3, Threads: 4}

const (
	saltLen = 16
	keyLen  = 32
	// MinLength and MaxLength bound a new password (in characters). The
	// upper bound keeps a sign-in from hashing megabytes.
	MinLength = 12
	MaxLength = 256
)

// ErrMalformed is a stored hash that is not an argon2id PHC string this
// package can read.
var ErrMalformed = errors.New("password: malformed argon2id hash")

// Check reports whether pw is acceptable as a new password, with a
// message a person can act on.
func Check(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return errors.New("the password is not valid UTF-8")
	case n < MinLength:
		return fmt.Errorf("the password must have at least %d characters", MinLength)
	case n > MaxLength:
		return fmt.Errorf("the password must have at most %d characters", MaxLength)
	case email != "" && strings.EqualFold(pw, email):
		return errors.New("the password must not be the email address")
	}
	return nil
}

// Hash returns the PHC string of pw under p with a fresh random salt.
func Hash(pw string, p Params) string {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		panic("password: crypto/rand failed: " + err.Error())
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether pw matches the PHC string stored, comparing in
// constant time. It returns ErrMalformed for a hash it cannot read.
func Verify(pw, stored string) (bool, error) {
	p, salt, key, err := parse(stored)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether stored was made with parameters other than
// p (or cannot be read), so the caller should store Hash(pw, p) once the
// password has been verified.
func NeedsRehash(stored string, p Params) bool {
	have, _, _, err := parse(stored)
	return err != nil || have != p
}

// Limits on what a stored hash may ask for, so a tampered row cannot make
// a sign-in allocate gigabytes or spin for minutes.
const (
	maxMemory = 1 << 20 // KiB: 1 GiB
	maxTime   = 64
)

func parse(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads) != parts[3] {
		return Params{}, nil, nil, ErrMalformed
	}
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 {
		return Params{}, nil, nil, ErrMalformed
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
