package storage

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
)

// AuditEntry is one record of the append-only audit log. Seq, PrevHash and
// Hash are assigned by AppendAudit; the rest is what happened.
type AuditEntry struct {
	Seq       int64 // 1, 2, 3... without gaps
	ID        string
	StoreID   string // "" for an operator action outside any store
	Livemode  bool
	Actor     string // an API key id, or "operator"
	Action    string // e.g. "api_key.created"
	Target    string // the object acted on
	SourceIP  string
	RequestID string
	Details   string // a JSON object, stored and hashed exactly as given
	CreatedAt time.Time
	PrevHash  []byte // Hash of entry Seq-1; empty for the first entry
	Hash      []byte // AuditHash of this entry: keyed (AuditKeyID) or, for old entries, not
}

// AuditIDPrefix starts audit entry ids.
const AuditIDPrefix = "aud"

// AuditRecord is one action to record, as every audit writer (the gateway
// service for API and command-line actions, the chain watcher for the
// blocks it imposes) describes it. Entry turns it into the log's one
// format.
type AuditRecord struct {
	StoreID   string // "" for an action outside any store
	Livemode  bool
	Actor     string // an API key id, "operator", "system"...
	Action    string
	Target    string
	SourceIP  string
	RequestID string
	Details   map[string]any // encoded as a JSON object with sorted keys
}

// Entry returns the entry recording r at now, ready for AppendAudit: a
// fresh time-ordered id, the details as one canonical JSON object ("{}"
// for none) and the time in UTC to the microsecond the engines keep. It
// fails only if the details cannot be encoded.
func (r AuditRecord) Entry(now time.Time) (*AuditEntry, error) {
	details := "{}"
	if len(r.Details) > 0 {
		b, err := json.Marshal(r.Details) // map keys are sorted: one encoding per content
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", r.Action, err)
		}
		details = string(b)
	}
	now = now.UTC().Truncate(time.Microsecond)
	return &AuditEntry{ID: cryptopay.NewID(AuditIDPrefix, now), StoreID: r.StoreID, Livemode: r.Livemode,
		Actor: r.Actor, Action: r.Action, Target: r.Target, SourceIP: r.SourceIP, RequestID: r.RequestID,
		Details: details, CreatedAt: now}, nil
}

// AuditFilter selects audit entries of one store and mode, newest first.
// BeforeSeq, when positive, returns only entries with a smaller Seq.
type AuditFilter struct {
	StoreID   string
	Livemode  bool
	Action    string // "" for any
	Limit     int
	BeforeSeq int64
}

// AuditReader reads the audit log.
type AuditReader interface {
	// ListAuditEntries returns the filter's entries newest first and
	// whether more follow.
	ListAuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, bool, error)
	// AuditChain returns up to limit entries with Seq > afterSeq in Seq
	// order, for verification.
	AuditChain(ctx context.Context, afterSeq int64, limit int) ([]AuditEntry, error)
	// AuditHead returns the Seq and Hash of the newest entry (0 and empty
	// for an empty log) as recorded when it was appended.
	AuditHead(ctx context.Context) (seq int64, hash []byte, err error)
}

// AuditTx writes the audit log and the data deletions it records.
type AuditTx interface {
	// AppendAudit assigns e the next Seq, the previous entry's hash and its
	// own hash (keyed with the primary encryption key's audit key when the
	// engine has one, see AuditHash), and inserts it. Appends are serialised on both engines, so
	// concurrent transactions can never fork the chain; the entry commits
	// or rolls back with the action it records.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// RedactInvoice erases an invoice's customer reference and metadata,
	// keeping its amounts, addresses and payments, or returns ErrNotFound.
	RedactInvoice(ctx context.Context, id string) error
}

// The chain is keyed. An entry's hash is an HMAC-SHA256 under an audit
// key derived from an encryption key (fieldcrypt.Keyring.AuditKey), which
// lives in the environment or a key file, never in the database: whoever
// can write the database but lacks the key cannot recompute the chain
// after changing an entry. Entries written before keying (or without any
// encryption key, in test setups) carry the old unkeyed SHA-256. The two
// are told apart by the stored hash itself, so no column is needed:
//
//	unkeyed: SHA-256 of the v1 encoding                 (32 bytes)
//	keyed:   0x02, len(key id), key id, HMAC of the v2 encoding (35+ bytes)
//
// Once a keyed entry appears every later entry must be keyed, so an
// attacker cannot downgrade the end of the chain to the unkeyed form. A
// chain rewritten unkeyed from its very first entry is caught by the
// signed checkpoints kept outside the database (AuditCheckpoint).

// auditKeyedTag starts the stored hash of a keyed entry.
const auditKeyedTag = 0x02

// AuditKeys finds the audit MAC key of an encryption key id;
// *fieldcrypt.Keyring is one.
type AuditKeys interface {
	AuditKey(id string) (key []byte, ok bool)
}

// AuditHash returns e's hash: with key nil, the SHA-256 of its v1
// canonical encoding (a domain tag, then Seq, PrevHash and every recorded
// field, each length-prefixed so no two different entries encode alike);
// with a key, the keyed form: tag, key id and the HMAC-SHA256 of the v2
// encoding, which adds the key id. Hash itself is not included.
func AuditHash(e *AuditEntry, keyID string, key []byte) []byte {
	if key == nil {
		h := sha256.Sum256(auditEncoding(e, "cryptopay audit v1\x00", ""))
		return h[:]
	}
	m := hmac.New(sha256.New, key)
	m.Write(auditEncoding(e, "cryptopay audit v2\x00", keyID))
	out := append([]byte{auditKeyedTag, byte(len(keyID))}, keyID...)
	return m.Sum(out)
}

// AuditKeyID returns the id of the encryption key whose audit key made a
// stored hash, and false for an unkeyed (v1) hash.
func AuditKeyID(hash []byte) (string, bool) {
	if len(hash) < 2 || hash[0] != auditKeyedTag || len(hash) != 2+int(hash[1])+sha256.Size {
		return "", false
	}
	return string(hash[2 : 2+int(hash[1])]), true
}

func auditEncoding(e *AuditEntry, tag, keyID string) []byte {
	var b bytes.Buffer
	b.WriteString(tag)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	b.Write(n[:])
	field := func(s []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		b.Write(n[:])
		b.Write(s)
	}
	field(e.PrevHash)
	live := "0"
	if e.Livemode {
		live = "1"
	}
	for _, s := range []string{e.ID, e.StoreID, live, e.Actor, e.Action, e.Target, e.SourceIP,
		e.RequestID, e.Details, fmt.Sprint(e.CreatedAt.UnixMicro())} {
		field([]byte(s))
	}
	if keyID != "" {
		field([]byte(keyID))
	}
	return b.Bytes()
}

// AuditChainError names the first entry at which the chain breaks.
type AuditChainError struct {
	Seq    int64 // the entry at fault (or expected there)
	Reason string
}

func (e *AuditChainError) Error() string {
	return fmt.Sprintf("audit log: entry %d: %s", e.Seq, e.Reason)
}

// AuditVerifier checks entries fed in Seq order. The zero value expects
// the log's first entry and can check only unkeyed entries; set Keys to
// check keyed ones.
type AuditVerifier struct {
	Keys AuditKeys

	last     int64
	lastHash []byte
	keyed    int64 // Seq of the first keyed entry, 0 before one
	unkeyed  int64
}

// Add checks the next entry: its Seq follows the previous one, its
// PrevHash is the previous entry's hash, its Hash matches its content
// under its key, and it is keyed if any earlier entry was. It returns an
// *AuditChainError naming the entry at fault.
func (v *AuditVerifier) Add(e *AuditEntry) error {
	want := v.last + 1
	switch {
	case e.Seq < want:
		return &AuditChainError{Seq: e.Seq, Reason: "out of order"}
	case e.Seq > want:
		return &AuditChainError{Seq: want, Reason: fmt.Sprintf("missing (the next entry is %d)", e.Seq)}
	case !bytes.Equal(e.PrevHash, v.lastHash):
		return &AuditChainError{Seq: e.Seq, Reason: "does not link to the previous entry (removed, reordered or changed)"}
	}
	id, keyed := AuditKeyID(e.Hash)
	switch {
	case !keyed && v.keyed > 0:
		return &AuditChainError{Seq: e.Seq, Reason: fmt.Sprintf("is unkeyed after keyed entries (from %d): rewritten without the key", v.keyed)}
	case !keyed:
		if !hmac.Equal(AuditHash(e, "", nil), e.Hash) {
			return &AuditChainError{Seq: e.Seq, Reason: "content does not match its hash (changed)"}
		}
		v.unkeyed++
	default:
		var key []byte
		ok := false
		if v.Keys != nil {
			key, ok = v.Keys.AuditKey(id)
		}
		if !ok {
			return &AuditChainError{Seq: e.Seq, Reason: fmt.Sprintf("is keyed with encryption key %s, which is not configured: add it to verify", id)}
		}
		if !hmac.Equal(AuditHash(e, id, key), e.Hash) {
			return &AuditChainError{Seq: e.Seq, Reason: "content does not match its keyed hash (changed)"}
		}
		if v.keyed == 0 {
			v.keyed = e.Seq
		}
	}
	v.last, v.lastHash = e.Seq, e.Hash
	return nil
}

// Finish checks the chain ends at the recorded head, so entries removed
// from the end are noticed too. It returns the number of entries checked.
func (v *AuditVerifier) Finish(headSeq int64, headHash []byte) (int64, error) {
	if headSeq != v.last {
		if headSeq > v.last {
			return v.last, &AuditChainError{Seq: v.last + 1, Reason: fmt.Sprintf("missing (the head records entry %d)", headSeq)}
		}
		return v.last, &AuditChainError{Seq: headSeq + 1, Reason: "appended outside the chain head"}
	}
	if !bytes.Equal(headHash, v.lastHash) {
		return v.last, &AuditChainError{Seq: v.last, Reason: "does not match the recorded chain head"}
	}
	return v.last, nil
}

// AuditReport is what a verification checked.
type AuditReport struct {
	Entries     int64 // entries checked
	Unkeyed     int64 // of which unkeyed (written before the chain was keyed)
	FirstKeyed  int64 // Seq of the first keyed entry, 0 if none
	Checkpoints int   // checkpoints the log was held against
}

// VerifyAudit walks the whole audit log in Seq order and checks every
// link and hash and the recorded head. Keyed entries are checked with r's
// own keys when r is also AuditKeys (the SQL engines are, through their
// keyring). It returns the number of entries checked and, for a broken
// chain, an *AuditChainError naming the first entry at fault; other
// errors are read failures.
func VerifyAudit(ctx context.Context, r AuditReader) (int64, error) {
	keys, _ := r.(AuditKeys)
	rep, err := VerifyAuditWith(ctx, r, keys, nil)
	return rep.Entries, err
}

// VerifyAuditWith is VerifyAudit with explicit keys, holding the log
// against signed checkpoints too: each checkpoint must be signed by one
// of keys, its entry must still exist, and must still have the hash the
// checkpoint recorded. That proves truncation (a head moved back before a
// checkpoint) and wholesale rewriting, which the chain alone cannot.
func VerifyAuditWith(ctx context.Context, r AuditReader, keys AuditKeys, cps []AuditCheckpoint) (AuditReport, error) {
	var rep AuditReport
	pins := map[int64]*AuditCheckpoint{}
	for i := range cps {
		cp := &cps[i]
		if err := cp.Check(keys); err != nil {
			return rep, err
		}
		if old := pins[cp.Seq]; old == nil || !old.At.Before(cp.At) {
			pins[cp.Seq] = cp
		}
	}
	headSeq, headHash, err := r.AuditHead(ctx)
	if err != nil {
		return rep, err
	}
	v := AuditVerifier{Keys: keys}
	report := func() AuditReport {
		return AuditReport{Entries: v.last, Unkeyed: v.unkeyed, FirstKeyed: v.keyed, Checkpoints: len(cps)}
	}
	after := int64(0)
	for {
		page, err := r.AuditChain(ctx, after, 500)
		if err != nil {
			return report(), err
		}
		for i := range page {
			e := &page[i]
			if err := v.Add(e); err != nil {
				return report(), err
			}
			if cp := pins[e.Seq]; cp != nil && !bytes.Equal(cp.hash(), e.Hash) {
				return report(), &AuditChainError{Seq: e.Seq, Reason: fmt.Sprintf("does not match the checkpoint of %s (changed, or the log was rewritten)", cp.At.Format(time.RFC3339))}
			}
			after = e.Seq
		}
		if len(page) < 500 {
			break
		}
	}
	// The newest checkpoint beyond the end of the log proves truncation.
	var beyond *AuditCheckpoint
	for _, cp := range pins {
		if cp.Seq > v.last && (beyond == nil || cp.Seq > beyond.Seq) {
			beyond = cp
		}
	}
	if beyond != nil {
		return report(), &AuditChainError{Seq: v.last + 1, Reason: fmt.Sprintf("missing: the checkpoint of %s records the log reached entry %d, but it ends at %d (truncated)",
			beyond.At.Format(time.RFC3339), beyond.Seq, v.last)}
	}
	_, err = v.Finish(headSeq, headHash)
	return report(), err
}
