package cryptopay

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// Id prefixes. A public id is a prefix, an underscore and 26 lowercase
// Crockford base32 characters: 48 bits of milliseconds since the Unix epoch
// followed by 80 random bits. Time-ordered ids keep B-tree inserts at the
// right edge of the index; the random tail keeps ids such as the checkout
// URL unguessable.
const (
	PrefixInvoice  = "inv"
	PrefixPayment  = "pay"
	PrefixEvent    = "evt"
	PrefixStore    = "sto"
	PrefixAPIKey   = "key"
	PrefixRequest  = "req"
	PrefixEndpoint = "we"
	PrefixDelivery = "wd"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

const idBodyLen = 26

// NewID returns a new time-ordered id with the given prefix.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("cryptopay: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [idBodyLen]byte
	// 128 bits → 26 characters of 5 bits, most significant first (130 bits,
	// the top two are zero).
	for i := idBodyLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return prefix + "_" + string(out[:])
}

// ValidID reports whether s is a well-formed id with the given prefix. It
// checks shape only, not existence, so a malformed id can be rejected
// before any lookup.
func ValidID(prefix, s string) bool {
	body, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(body) != idBodyLen {
		return false
	}
	if body[0] > '7' { // the top two bits of 130 are always zero
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(crockford, body[i]) < 0 {
			return false
		}
	}
	return true
}
