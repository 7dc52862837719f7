// Package shred is the key vault behind erasure by crypto-shredding. Each
// data subject (a store's customer_reference) gets its own AES-256 key;
// the subject's personal fields are sealed with it before they reach the
// gateway's database, and erasing the subject destroys the key. Every copy
// of those fields, in the live database and in every backup of it, is then
// ciphertext nobody can open, while amounts, addresses and txids stay.
//
// That works only because the vault is NOT the gateway's database: a
// backup of the database holds no subject key, so restoring one cannot
// bring an erased subject back. The vault is its own small database (a
// SQLite file beside the gateway's, or a PostgreSQL database of its own);
// back it up separately and keep those copies no longer than an erasure
// may take to become final.
//
// Subject keys are sealed under the gateway's encryption keyring
// (internal/fieldcrypt) at rest in the vault. Subjects are looked up by a
// keyed hash (HMAC-SHA256 under an index key the vault generates and keeps
// sealed), so neither database stores a customer reference in the clear.
//
// It is not a general key manager and knows nothing of invoices.
package shred

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Errors.
var (
	// ErrErased: the subject's key was destroyed; what it sealed is gone.
	ErrErased = errors.New("shred: the data subject was erased")
	// ErrNoSubject: the vault has never seen this subject.
	ErrNoSubject = errors.New("shred: no such data subject")
	// ErrMalformed: a value is not an envelope this package wrote.
	ErrMalformed = errors.New("shred: malformed envelope")
)

// envelopePrefix starts every value sealed with a subject key.
const envelopePrefix = "subj1:"

// Vault holds subject keys. It is safe for concurrent use.
type Vault struct {
	db       *sql.DB
	postgres bool
	kr       *fieldcrypt.Keyring
	index    []byte // HMAC key of subject lookups
	now      func() time.Time
}

// Open opens (creating if needed) the vault at dsn: a postgres:// URL or
// a SQLite file path. kr seals the keys at rest; it may be an empty
// keyring in test mode (keys are then stored in the plain form).
func Open(ctx context.Context, dsn string, kr *fieldcrypt.Keyring) (*Vault, error) {
	v := &Vault{kr: kr, now: time.Now}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("shred: vault URL: %w", err)
		}
		v.db, v.postgres = stdlib.OpenDB(*cfg), true
	} else {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, fmt.Errorf("shred: vault directory: %w", err)
		}
		f, err := os.OpenFile(dsn, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("shred: vault file: %w", err)
		}
		_ = f.Close()
		// secure_delete zeroes the bytes of a destroyed key in the file;
		// the checkpoint after Destroy empties the WAL of its old page.
		db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=secure_delete(1)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("shred: vault: %w", err)
		}
		db.SetMaxOpenConns(1)
		v.db = db
	}
	if err := v.init(ctx); err != nil {
		v.db.Close()
		return nil, err
	}
	return v, nil
}

// Close closes the vault.
func (v *Vault) Close() error { return v.db.Close() }

func (v *Vault) rebind(q string) string {
	if !v.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (v *Vault) init(ctx context.Context) error {
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS vault_meta (id INTEGER PRIMARY KEY, index_key TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS subject_keys (
			subject TEXT PRIMARY KEY,
			id TEXT NOT NULL UNIQUE,
			store_id TEXT NOT NULL,
			sealed_key TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			destroyed_at BIGINT
		)`,
	} {
		if _, err := v.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("shred: create vault tables: %w", err)
		}
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	sealed, err := v.kr.Seal(fresh, aad("index", "1"))
	if err != nil {
		return err
	}
	// Two processes opening a new vault at once: the first index key wins.
	if _, err := v.db.ExecContext(ctx, v.rebind(`INSERT INTO vault_meta (id, index_key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`), sealed); err != nil {
		return fmt.Errorf("shred: vault index key: %w", err)
	}
	var stored string
	if err := v.db.QueryRowContext(ctx, `SELECT index_key FROM vault_meta WHERE id = 1`).Scan(&stored); err != nil {
		return fmt.Errorf("shred: vault index key: %w", err)
	}
	if v.index, err = v.kr.Open(stored, aad("index", "1")); err != nil {
		return fmt.Errorf("shred: open the vault's index key (is the encryption key that sealed it configured?): %w", err)
	}
	return nil
}

func aad(kind, id string) []byte { return []byte("cryptopay:vault:" + kind + ":" + id) }

// Subject returns the keyed hash a store's customer reference is indexed
// and counted by. It reveals nothing of the reference without the vault's
// index key.
func (v *Vault) Subject(storeID, ref string) string {
	m := hmac.New(sha256.New, v.index)
	m.Write([]byte(storeID))
	m.Write([]byte{0})
	m.Write([]byte(ref))
	return hex.EncodeToString(m.Sum(nil))
}

// Key returns the id and key of the subject (storeID, ref). With create,
// a subject never seen, or one erased before, gets a fresh key (an
// erased customer who comes back is a new subject: what was erased stays
// erased). Without create, a missing subject is ErrNoSubject and an
// erased one ErrErased.
func (v *Vault) Key(ctx context.Context, storeID, ref string, create bool) (string, []byte, error) {
	subject := v.Subject(storeID, ref)
	if create {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		id := newSubjectID()
		sealed, err := v.kr.Seal(key, aad("subject", id))
		if err != nil {
			return "", nil, err
		}
		_, err = v.db.ExecContext(ctx, v.rebind(`INSERT INTO subject_keys (subject, id, store_id, sealed_key, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET id = excluded.id, sealed_key = excluded.sealed_key,
			created_at = excluded.created_at, destroyed_at = NULL WHERE subject_keys.destroyed_at IS NOT NULL`),
			subject, id, storeID, sealed, v.now().UnixMicro())
		if err != nil {
			return "", nil, fmt.Errorf("shred: create subject key: %w", err)
		}
	}
	var id, sealed string
	var destroyed sql.NullInt64
	err := v.db.QueryRowContext(ctx, v.rebind(`SELECT id, sealed_key, destroyed_at FROM subject_keys WHERE subject = ?`), subject).
		Scan(&id, &sealed, &destroyed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil, ErrNoSubject
	case err != nil:
		return "", nil, fmt.Errorf("shred: read subject key: %w", err)
	case destroyed.Valid:
		return id, nil, ErrErased
	}
	key, err := v.kr.Open(sealed, aad("subject", id))
	if err != nil {
		return "", nil, fmt.Errorf("shred: open subject key: %w", err)
	}
	return id, key, nil
}

// KeyByID returns the key of subject id, or ErrErased once it was
// destroyed (or never existed in this vault: a restored backup of the
// gateway's database may name subjects this vault no longer knows).
func (v *Vault) KeyByID(ctx context.Context, id string) ([]byte, error) {
	var sealed string
	var destroyed sql.NullInt64
	err := v.db.QueryRowContext(ctx, v.rebind(`SELECT sealed_key, destroyed_at FROM subject_keys WHERE id = ?`), id).Scan(&sealed, &destroyed)
	switch {
	case errors.Is(err, sql.ErrNoRows), err == nil && destroyed.Valid:
		return nil, ErrErased
	case err != nil:
		return nil, fmt.Errorf("shred: read subject key: %w", err)
	}
	key, err := v.kr.Open(sealed, aad("subject", id))
	if err != nil {
		return nil, fmt.Errorf("shred: open subject key: %w", err)
	}
	return key, nil
}

// Destroy destroys the key of subject (storeID, ref): its sealed bytes
// are overwritten and a tombstone stays, so a second call reports
// already. A subject the vault never saw is ErrNoSubject.
func (v *Vault) Destroy(ctx context.Context, storeID, ref string) (id string, already bool, err error) {
	subject := v.Subject(storeID, ref)
	var destroyed sql.NullInt64
	err = v.db.QueryRowContext(ctx, v.rebind(`SELECT id, destroyed_at FROM subject_keys WHERE subject = ?`), subject).Scan(&id, &destroyed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, ErrNoSubject
	case err != nil:
		return "", false, fmt.Errorf("shred: read subject key: %w", err)
	case destroyed.Valid:
		return id, true, nil
	}
	if _, err := v.db.ExecContext(ctx, v.rebind(`UPDATE subject_keys SET sealed_key = '', destroyed_at = ? WHERE subject = ?`),
		v.now().UnixMicro(), subject); err != nil {
		return "", false, fmt.Errorf("shred: destroy subject key: %w", err)
	}
	// Old row versions: PostgreSQL keeps them until VACUUM, SQLite's WAL
	// until a checkpoint. Both are best effort here; the row itself no
	// longer holds the key.
	if v.postgres {
		_, _ = v.db.ExecContext(ctx, `VACUUM subject_keys`)
	} else {
		_, _ = v.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return id, false, nil
}

func newSubjectID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "sub_" + hex.EncodeToString(b)
}

// Seal seals plaintext with a subject's key, bound to aad (the invoice and
// field it belongs to). The envelope names the subject, not the reference.
func Seal(subjectID string, key, plaintext, aad []byte) (string, error) {
	aead, err := gcm(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	ct := aead.Seal(nonce, nonce, plaintext, aad)
	return envelopePrefix + subjectID + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

// SubjectOf returns the subject id an envelope names; ok is false for a
// value that is not an envelope (written before crypto-shredding, or
// without a subject).
func SubjectOf(v string) (string, bool) {
	rest, ok := strings.CutPrefix(v, envelopePrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, ":")
	return id, ok && id != ""
}

// OpenEnvelope opens an envelope with its subject's key.
func OpenEnvelope(v string, key, aad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(v, envelopePrefix)
	if !ok {
		return nil, ErrMalformed
	}
	_, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, ErrMalformed
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	ct, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil || len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrMalformed
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("shred: envelope failed authentication: %w", err)
	}
	return pt, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("shred: %w", err)
	}
	return cipher.NewGCM(block)
}

// ResealStats counts what Reseal did.
type ResealStats struct {
	Checked  int64 // sealed keys read (the index key and every live subject key)
	Resealed int64 // rewritten under the keyring's primary key
	// Remaining counts the vault's sealed keys by the encryption key id
	// sealing them after the run ("plain" for keys stored without one).
	Remaining map[string]int64
}

// Reseal re-seals the index key and every subject key not sealed with the
// keyring's primary key, so `encryption rotate` can retire an old
// encryption key without losing the vault. Destroyed subjects hold no key
// and stay destroyed: a value is rewritten only if it is still the one
// read (a concurrent Destroy wins). It stops at the first key it cannot
// open, naming it, having rewritten nothing of that key. It fails
// without an enabled keyring; running it again rewrites nothing.
func (v *Vault) Reseal(ctx context.Context) (*ResealStats, error) {
	if !v.kr.Enabled() {
		return nil, errors.New("shred: reseal: no encryption key is configured")
	}
	st := &ResealStats{Remaining: map[string]int64{}}
	var index string
	if err := v.db.QueryRowContext(ctx, `SELECT index_key FROM vault_meta WHERE id = 1`).Scan(&index); err != nil {
		return nil, fmt.Errorf("shred: reseal: read the index key: %w", err)
	}
	if err := v.reseal(ctx, st, `UPDATE vault_meta SET index_key = ? WHERE index_key = ? AND id = 1`, "index", "1", index); err != nil {
		return st, err
	}
	// Page by id: a vault may hold a key per customer ever seen.
	for after := ""; ; {
		rows, err := v.db.QueryContext(ctx, v.rebind(`SELECT id, sealed_key FROM subject_keys
			WHERE destroyed_at IS NULL AND sealed_key <> '' AND id > ? ORDER BY id LIMIT 500`), after)
		if err != nil {
			return st, fmt.Errorf("shred: reseal: list subject keys: %w", err)
		}
		var page [][2]string
		for rows.Next() {
			var r [2]string
			if err := rows.Scan(&r[0], &r[1]); err != nil {
				rows.Close()
				return st, fmt.Errorf("shred: reseal: list subject keys: %w", err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, fmt.Errorf("shred: reseal: list subject keys: %w", err)
		}
		for _, r := range page {
			after = r[0]
			if err := v.reseal(ctx, st, `UPDATE subject_keys SET sealed_key = ? WHERE sealed_key = ? AND id = ?`,
				"subject", r[0], r[1], r[0]); err != nil {
				return st, err
			}
		}
		if len(page) < 500 {
			return st, nil
		}
	}
}

// reseal re-seals one sealed key of kind (aad id aadID) with update, a
// statement taking the new and the old sealed value, then extra.
func (v *Vault) reseal(ctx context.Context, st *ResealStats, update, kind, aadID, old string, extra ...any) error {
	st.Checked++
	if !v.kr.NeedsReseal(old) {
		st.Remaining[v.kr.PrimaryID()]++
		return nil
	}
	key, err := v.kr.Open(old, aad(kind, aadID))
	if err != nil {
		return fmt.Errorf("shred: reseal: open the %s key %s (is the encryption key that sealed it configured?): %w", kind, aadID, err)
	}
	sealed, err := v.kr.Seal(key, aad(kind, aadID))
	if err != nil {
		return err
	}
	res, err := v.db.ExecContext(ctx, v.rebind(update), append([]any{sealed, old}, extra...)...)
	if err != nil {
		return fmt.Errorf("shred: reseal the %s key %s: %w", kind, aadID, err)
	}
	// No row: destroyed (or re-sealed by another run) since it was read.
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		st.Resealed++
		st.Remaining[v.kr.PrimaryID()]++
	}
	return nil
}

// SQLite returns the vault's database handle when the vault is a SQLite
// file, for `cryptopay backup` to take a consistent copy of it (a
// PostgreSQL vault is backed up with pg_dump, like a PostgreSQL gateway).
func (v *Vault) SQLite() (*sql.DB, bool) {
	if v.postgres {
		return nil, false
	}
	return v.db, true
}
