package storage

import (
	"bytes"
	"context"
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
	Hash      []byte // AuditHash of this entry
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
	// own hash, and inserts it. Appends are serialised on both engines, so
	// concurrent transactions can never fork the chain; the entry commits
	// or rolls back with the action it records.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// RedactInvoice erases an invoice's customer reference and metadata,
	// keeping its amounts, addresses and payments, or returns ErrNotFound.
	RedactInvoice(ctx context.Context, id string) error
}

// AuditHash returns the SHA-256 of e's canonical encoding: a domain tag,
// then Seq, PrevHash and every recorded field, each length-prefixed so no
// two different entries encode alike. Hash itself is not included.
func AuditHash(e *AuditEntry) []byte {
	var b bytes.Buffer
	b.WriteString("cryptopay audit v1\x00")
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
	h := sha256.Sum256(b.Bytes())
	return h[:]
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
// the log's first entry.
type AuditVerifier struct {
	last     int64
	lastHash []byte
}

// Add checks the next entry: its Seq follows the previous one, its
// PrevHash is the previous entry's hash, and its Hash matches its content.
// It returns an *AuditChainError naming the entry at fault.
func (v *AuditVerifier) Add(e *AuditEntry) error {
	want := v.last + 1
	switch {
	case e.Seq < want:
		return &AuditChainError{Seq: e.Seq, Reason: "out of order"}
	case e.Seq > want:
		return &AuditChainError{Seq: want, Reason: fmt.Sprintf("missing (the next entry is %d)", e.Seq)}
	case !bytes.Equal(e.PrevHash, v.lastHash):
		return &AuditChainError{Seq: e.Seq, Reason: "does not link to the previous entry (removed, reordered or changed)"}
	case !bytes.Equal(AuditHash(e), e.Hash):
		return &AuditChainError{Seq: e.Seq, Reason: "content does not match its hash (changed)"}
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

// VerifyAudit walks the whole audit log in Seq order and checks every
// link and hash and the recorded head. It returns the number of entries
// checked and, for a broken chain, an *AuditChainError naming the first
// entry at fault; other errors are read failures.
func VerifyAudit(ctx context.Context, r AuditReader) (int64, error) {
	headSeq, headHash, err := r.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	var v AuditVerifier
	after := int64(0)
	for {
		page, err := r.AuditChain(ctx, after, 500)
		if err != nil {
			return v.last, err
		}
		for i := range page {
			if err := v.Add(&page[i]); err != nil {
				return v.last, err
			}
			after = page[i].Seq
		}
		if len(page) < 500 {
			break
		}
	}
	return v.Finish(headSeq, headHash)
}
