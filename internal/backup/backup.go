// Package backup writes and restores encrypted backups of the embedded
// SQLite database. A backup is a consistent copy taken while the gateway
// runs (SQLite's VACUUM INTO reads one snapshot while writers go on),
// encrypted with age to an X25519 recipient or a passphrase, so a backup
// file at rest reveals nothing.
//
// It is not a PostgreSQL tool: pg_dump is the backup tool there, and
// Write refuses any other engine.
package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// ErrNotSQLite is returned for a database that is not SQLite.
var ErrNotSQLite = errors.New("backup: only the embedded SQLite database is backed up here; for PostgreSQL use pg_dump (for example pg_dump --format=custom) and encrypt its output")

// Recipients parses the encryption target: an age X25519 recipient
// (age1...) or, when recipient is empty, a passphrase. Neither is an
// error.
func Recipients(recipient, passphrase string) ([]age.Recipient, error) {
	switch {
	case recipient != "":
		r, err := age.ParseX25519Recipient(strings.TrimSpace(recipient))
		if err != nil {
			return nil, fmt.Errorf("backup: recipient: %w", err)
		}
		return []age.Recipient{r}, nil
	case passphrase != "":
		r, err := age.NewScryptRecipient(passphrase)
		if err != nil {
			return nil, fmt.Errorf("backup: passphrase: %w", err)
		}
		return []age.Recipient{r}, nil
	}
	return nil, errors.New("backup: set CRYPTOPAY_BACKUP_RECIPIENT (an age1... public key) or CRYPTOPAY_BACKUP_PASSPHRASE; a backup is never written unencrypted")
}

// Identities parses the decryption secret: the identities in the file at
// identityFile or, when it is empty, a passphrase.
func Identities(identityFile, passphrase string) ([]age.Identity, error) {
	switch {
	case identityFile != "":
		f, err := os.Open(identityFile)
		if err != nil {
			return nil, fmt.Errorf("backup: identity file: %w", err)
		}
		defer f.Close()
		ids, err := age.ParseIdentities(f)
		if err != nil {
			return nil, fmt.Errorf("backup: identity file: %w", err)
		}
		return ids, nil
	case passphrase != "":
		id, err := age.NewScryptIdentity(passphrase)
		if err != nil {
			return nil, fmt.Errorf("backup: passphrase: %w", err)
		}
		return []age.Identity{id}, nil
	}
	return nil, errors.New("backup: set CRYPTOPAY_BACKUP_IDENTITY_FILE or CRYPTOPAY_BACKUP_PASSPHRASE to restore")
}

// Write takes a consistent copy of the SQLite database behind db with
// VACUUM INTO a private temporary file in tmpDir, encrypts it to
// recipients into w, and removes the copy. engine is the database's
// engine name; anything but "sqlite" is ErrNotSQLite. It returns the
// size of the plaintext copy.
func Write(ctx context.Context, engine string, db *sql.DB, tmpDir string, w io.Writer, recipients ...age.Recipient) (int64, error) {
	if engine != "sqlite" {
		return 0, ErrNotSQLite
	}
	dir, err := os.MkdirTemp(tmpDir, "cryptopay-backup-")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	snap := filepath.Join(dir, "snapshot.db")
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, snap); err != nil {
		return 0, fmt.Errorf("backup: snapshot: %w", err)
	}
	f, err := os.Open(snap)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	enc, err := age.Encrypt(w, recipients...)
	if err != nil {
		return 0, fmt.Errorf("backup: encrypt: %w", err)
	}
	n, err := io.Copy(enc, f)
	if err != nil {
		return n, fmt.Errorf("backup: encrypt: %w", err)
	}
	if err := enc.Close(); err != nil {
		return n, fmt.Errorf("backup: encrypt: %w", err)
	}
	return n, nil
}

// Restore decrypts a backup from r into a new database file at path,
// which must not exist yet (a restore never overwrites a database). The
// file is written with mode 0600 and synced; on any error nothing is
// left at path. A wrong key or a damaged backup is an error.
func Restore(r io.Reader, path string, identities ...age.Identity) (int64, error) {
	dec, err := age.Decrypt(r, identities...)
	if err != nil {
		return 0, fmt.Errorf("restore: decrypt: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	n, err := io.Copy(f, dec)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return n, fmt.Errorf("restore: %w", err)
	}
	return n, nil
}
