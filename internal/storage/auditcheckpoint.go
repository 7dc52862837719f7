package storage

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// AuditCheckpoint is a signed record of the audit log's head, exported
// outside the database (a file, the alert sink) so that a later
// verification can prove the log still reaches it unchanged: deleting
// entries from the end and moving the head back, or rewriting the whole
// chain, leaves the checkpoint's entry missing or different. It is
// signed with an audit key (see AuditHash), so whoever can write the
// checkpoint file but lacks the key cannot forge one either.
type AuditCheckpoint struct {
	Seq   int64     `json:"seq"`
	Hash  string    `json:"hash"` // hex of the entry's stored hash
	At    time.Time `json:"at"`
	KeyID string    `json:"key_id"`
	MAC   string    `json:"mac"` // hex HMAC-SHA256 of the fields above
}

// NewAuditCheckpoint returns a checkpoint of the entry seq with stored
// hash, taken at at, signed with the audit key of keyID.
func NewAuditCheckpoint(seq int64, hash []byte, at time.Time, keyID string, key []byte) AuditCheckpoint {
	cp := AuditCheckpoint{Seq: seq, Hash: hex.EncodeToString(hash), At: at.UTC().Truncate(time.Microsecond), KeyID: keyID}
	cp.MAC = hex.EncodeToString(cp.mac(key))
	return cp
}

func (cp *AuditCheckpoint) mac(key []byte) []byte {
	var b bytes.Buffer
	b.WriteString("cryptopay audit checkpoint v1\x00")
	var n [8]byte
	for _, v := range []int64{cp.Seq, cp.At.UnixMicro()} {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		b.Write(n[:])
	}
	for _, s := range []string{cp.Hash, cp.KeyID} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		b.Write(n[:])
		b.WriteString(s)
	}
	m := hmac.New(sha256.New, key)
	m.Write(b.Bytes())
	return m.Sum(nil)
}

func (cp *AuditCheckpoint) hash() []byte {
	h, _ := hex.DecodeString(cp.Hash)
	return h
}

// ReadAuditCheckpoints reads checkpoints written one JSON object a line
// (blank lines skipped), as serve appends them to its checkpoint file. It
// checks their shape only; Check verifies each one's signature.
func ReadAuditCheckpoints(r io.Reader) ([]AuditCheckpoint, error) {
	var out []AuditCheckpoint
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var cp AuditCheckpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			return nil, fmt.Errorf("line %d: not an audit checkpoint: %w", n, err)
		}
		out = append(out, cp)
	}
	return out, sc.Err()
}

// ErrCheckpointForged: a checkpoint's signature does not verify.
var ErrCheckpointForged = errors.New("audit checkpoint: signature does not verify (forged or changed)")

// Check verifies the checkpoint's signature with keys. It fails naming
// the checkpoint when the key is not configured or the signature is
// wrong.
func (cp *AuditCheckpoint) Check(keys AuditKeys) error {
	var key []byte
	ok := false
	if keys != nil {
		key, ok = keys.AuditKey(cp.KeyID)
	}
	if !ok {
		return fmt.Errorf("audit checkpoint of entry %d (%s): signed with encryption key %q, which is not configured", cp.Seq, cp.At.Format(time.RFC3339), cp.KeyID)
	}
	got, err := hex.DecodeString(cp.MAC)
	if err != nil || !hmac.Equal(got, cp.mac(key)) {
		return fmt.Errorf("checkpoint of entry %d (%s): %w", cp.Seq, cp.At.Format(time.RFC3339), ErrCheckpointForged)
	}
	if _, err := hex.DecodeString(cp.Hash); err != nil {
		return fmt.Errorf("checkpoint of entry %d: %w", cp.Seq, ErrCheckpointForged)
	}
	return nil
}
