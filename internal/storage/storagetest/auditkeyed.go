package storagetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// testAuditKeyed checks the keyed chain against someone who can write the
// database but holds no encryption key: entries written before keying
// still verify, an edited entry cannot be re-hashed (neither keyed, nor
// by downgrading to the unkeyed form), and a signed checkpoint kept
// outside the database proves truncation and wholesale rewriting.
func testAuditKeyed(t *testing.T, open Opener) {
	keyA, keyB := fieldcrypt.Key{0xa1}, fieldcrypt.Key{0xb2}
	krA, krB := keyring(t, keyA), keyring(t, keyB)
	forgedKey, _ := krB.AuditKey(keyB.ID())
	tests := []struct {
		name       string
		tamper     func(t *testing.T, db storage.DB)
		checkpoint bool
		keys       storage.AuditKeys
		wantSeq    int64 // 0: verifies
		reason     string
	}{
		{"untouched", nil, false, krA, 0, ""},
		{"untouched, against the checkpoint", nil, true, krA, 0, ""},
		{"last entry deleted, head moved back", truncateAudit, true, krA, 6, "truncated"},
		{"edited, rest of the chain recomputed unkeyed", rehashAudit(4, "", nil), false, krA, 4, "unkeyed after keyed"},
		// The forger labels the hashes with the real key's id but must
		// use a key of their own.
		{"edited, rest of the chain recomputed with another key", rehashAudit(4, keyA.ID(), forgedKey), false, krA, 4, "changed"},
		{"edited, whole chain recomputed unkeyed", rehashAudit(1, "", nil), true, krA, 6, "does not match the checkpoint"},
		{"edited unkeyed entry before keying", func(t *testing.T, db storage.DB) {
			execAudit(t, db, `UPDATE audit_log SET target = 'key_other' WHERE seq = 2`)
		}, false, krA, 2, "changed"},
		{"audit key not configured", nil, false, krB, 3, "not configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db := migrated(t, open)
			c, ok := db.(crypter)
			if !ok {
				t.Skip("engine has no keyring")
			}
			// Two entries from before the chain was keyed, then four keyed.
			for i := 1; i <= 6; i++ {
				if i == 3 {
					c.SetKeyring(krA)
				}
				appendAudit(t, db, auditEntry("", i))
			}
			seq, hash, err := db.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if id, keyed := storage.AuditKeyID(hash); !keyed || id != keyA.ID() {
				t.Fatalf("head hash %x: keyed %v with %q, want keyed with %s", hash, keyed, id, keyA.ID())
			}
			key, _ := krA.AuditKey(keyA.ID())
			cp := storage.NewAuditCheckpoint(seq, hash, time.Now(), keyA.ID(), key)
			if tc.tamper != nil {
				tc.tamper(t, db)
			}
			var cps []storage.AuditCheckpoint
			if tc.checkpoint {
				cps = append(cps, cp)
			}
			rep, err := storage.VerifyAuditWith(ctx, db, tc.keys, cps)
			if tc.wantSeq == 0 {
				if err != nil || rep.Entries != 6 || rep.Unkeyed != 2 || rep.FirstKeyed != 3 {
					t.Fatalf("verify = %+v, %v; want 6 entries, 2 unkeyed, keyed from 3", rep, err)
				}
				return
			}
			ce, ok := errors.AsType[*storage.AuditChainError](err)
			if !ok {
				t.Fatalf("verify = %+v, %v; want *AuditChainError", rep, err)
			}
			if ce.Seq != tc.wantSeq || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("verify blames entry %d (%s), want %d (%s)", ce.Seq, ce.Reason, tc.wantSeq, tc.reason)
			}
		})
	}

	t.Run("checkpoint forged", func(t *testing.T) {
		key, _ := krA.AuditKey(keyA.ID())
		cp := storage.NewAuditCheckpoint(6, []byte{1, 2, 3}, time.Now(), keyA.ID(), key)
		if err := cp.Check(krA); err != nil {
			t.Fatalf("genuine checkpoint: %v", err)
		}
		for name, forged := range map[string]storage.AuditCheckpoint{
			"seq moved back": func() storage.AuditCheckpoint { f := cp; f.Seq = 5; return f }(),
			"hash replaced":  func() storage.AuditCheckpoint { f := cp; f.Hash = "0a0b0c"; return f }(),
			"signed with another key": storage.NewAuditCheckpoint(6, []byte{1, 2, 3}, time.Now(), keyA.ID(),
				func() []byte { k, _ := krB.AuditKey(keyB.ID()); return k }()),
		} {
			if err := forged.Check(krA); !errors.Is(err, storage.ErrCheckpointForged) {
				t.Errorf("%s: Check = %v, want ErrCheckpointForged", name, err)
			}
		}
	})
}

func execAudit(t *testing.T, db storage.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().ExecContext(t.Context(), rebind(db, q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// truncateAudit deletes the newest entry and moves the head back to the
// entry before it, as one with write access to the database would.
func truncateAudit(t *testing.T, db storage.DB) {
	execAudit(t, db, `DELETE FROM audit_log WHERE seq = 6`)
	execAudit(t, db, `UPDATE audit_chain_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE id = 1`)
}

// rehashAudit changes entry 4's target and recomputes every hash from
// entry from on, and the head, unkeyed (key nil) or keyed with key under
// the label id: a forger's best effort without the right key.
func rehashAudit(from int64, id string, key []byte) func(t *testing.T, db storage.DB) {
	return func(t *testing.T, db storage.DB) {
		es, err := db.AuditChain(t.Context(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		prev := []byte{}
		for i := range es {
			e := &es[i]
			if e.Seq < from {
				prev = e.Hash
				continue
			}
			if e.Seq == 4 {
				e.Target = "key_other"
			}
			e.PrevHash = prev
			e.Hash = storage.AuditHash(e, id, key)
			execAudit(t, db, `UPDATE audit_log SET target = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Target, e.PrevHash, e.Hash, e.Seq)
			prev = e.Hash
		}
		execAudit(t, db, `UPDATE audit_chain_head SET hash = ? WHERE id = 1`, prev)
	}
}
