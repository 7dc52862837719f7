package webhooksig

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// secretPrefix marks CryptoPay webhook secrets so they are recognisable in
// configuration and by secret scanners.
const secretPrefix = "whsec_"

// secretBytes is the entropy of a new secret: 256 bits, the output size of
// SHA-256; a longer key adds nothing to HMAC-SHA256's strength.
const secretBytes = 32

// NewSecret returns a fresh webhook secret: "whsec_" followed by 32 random
// bytes in unpadded base64url (43 characters). The whole string, prefix
// included, is the HMAC key. The error is always nil since Go 1.24, where
// crypto/rand.Read cannot fail (the program crashes instead); it stays in the
// signature so callers handle it if that ever changes.
func NewSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhooksig: generating secret: %w", err)
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
