package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/backup"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/shred"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqldb"
)

// sealer is what both SQL engines offer for sealed columns.
type sealer interface {
	SetKeyring(*fieldcrypt.Keyring)
	Reseal(ctx context.Context) (*sqldb.ResealStats, error)
}

// errNoKeyForLive refuses a live store without an encryption key.
var errNoKeyForLive = errors.New("live mode needs an encryption key for sensitive fields: set CRYPTOPAY_ENCRYPTION_KEY or CRYPTOPAY_ENCRYPTION_KEY_FILE (create one with `cryptopay encryption keygen`)")

// useKeyring hands the configured encryption keys to the database.
func (a *app) useKeyring() error {
	kr, err := a.cfg.Keyring()
	if err != nil {
		return err
	}
	if s, ok := a.db.(sealer); ok {
		s.SetKeyring(kr)
	}
	return nil
}

// requireKeyForLive refuses live mode without an encryption key: sensitive
// fields of a live store must never be stored in the plain form.
func (a *app) requireKeyForLive(ctx context.Context) error {
	if len(a.cfg.EncryptionKeys) > 0 {
		return nil
	}
	stores, err := a.db.ListStores(ctx)
	if err != nil {
		return err
	}
	for _, st := range stores {
		if st.Livemode {
			return fmt.Errorf("live store %s exists but no encryption key is configured: set CRYPTOPAY_ENCRYPTION_KEY or CRYPTOPAY_ENCRYPTION_KEY_FILE (create one with `cryptopay encryption keygen`), then run `cryptopay encryption rotate` to seal existing values", st.ID)
		}
	}
	return nil
}

// startSecurity checks the encryption policy and starts flushing
// aggregated authentication failures to the audit log; the returned stop
// ends the flusher and flushes what is left.
func (a *app) startSecurity(ctx context.Context) (stop func(), err error) {
	if err := a.requireKeyForLive(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if _, err := a.svc.FlushAuthFailures(context.WithoutCancel(ctx), true); err != nil {
					a.log.Warn("audit: flush authentication failures", "err", err)
				}
				return
			case <-t.C:
			}
			if _, err := a.svc.FlushAuthFailures(ctx, false); err != nil && ctx.Err() == nil {
				a.log.Warn("audit: flush authentication failures", "err", err)
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

func runEncryption(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "encryption", verbs: []verb{
		{"keygen", encryptionKeygen}, {"rotate", encryptionRotate},
	}}.run(ctx, env, args)
}

// encryptionKeygen prints a new random key; it touches no database.
func encryptionKeygen(_ context.Context, env Env, args []string) error {
	if err := parse(flags(env, "encryption keygen"), args); err != nil {
		return err
	}
	var k fieldcrypt.Key
	_, _ = rand.Read(k[:]) // crypto/rand never fails
	fmt.Fprintln(env.Stdout, hex.EncodeToString(k[:]))
	fmt.Fprintf(env.Stderr, "key id %s; put it first in CRYPTOPAY_ENCRYPTION_KEY (keep the old key after it until `encryption rotate` finishes)\n", k.ID())
	return nil
}

// encryptionRotate re-seals every sealed value under the first configured
// key and records the rotation in the audit log.
func encryptionRotate(ctx context.Context, env Env, args []string) error {
	if err := parse(flags(env, "encryption rotate"), args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error { return reseal(ctx, env, a) })
}

// reseal is encryptionRotate on an open app.
func reseal(ctx context.Context, env Env, a *app) error {
	s, ok := a.db.(sealer)
	if !ok {
		return errors.New("this database engine has no sealed columns")
	}
	if len(a.cfg.EncryptionKeys) == 0 {
		return errors.New("no encryption key is configured: set CRYPTOPAY_ENCRYPTION_KEY (new key first, old keys after it)")
	}
	stats, err := s.Reseal(ctx)
	if err != nil {
		return err
	}
	primary := a.cfg.EncryptionKeys[0].ID()
	details := map[string]any{"checked": stats.Checked, "resealed": stats.Resealed}
	// The subject key vault is sealed under the same keyring: an old key
	// may go only once neither database holds a value it sealed.
	var vault *shred.ResealStats
	if a.vault != nil {
		if vault, err = a.vault.Reseal(ctx); err != nil {
			return fmt.Errorf("subject key vault: %w", err)
		}
		details["vault_checked"], details["vault_resealed"] = vault.Checked, vault.Resealed
		for id, n := range vault.Remaining {
			stats.Remaining[id] += n
		}
	}
	err = a.db.InTx(ctx, func(tx storage.Tx) error {
		return a.svc.Audit(ctx, tx, gateway.AuditRecord{Action: gateway.AuditEncryptionRotate, Target: primary, Details: details})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "checked %d value(s), re-sealed %d under key %s\n", stats.Checked, stats.Resealed, primary)
	if vault != nil {
		fmt.Fprintf(env.Stdout, "subject key vault: checked %d key(s), re-sealed %d under key %s\n", vault.Checked, vault.Resealed, primary)
	}
	ids := make([]string, 0, len(stats.Remaining))
	for id := range stats.Remaining {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(env.Stdout, "  key %-8s %d value(s)\n", id, stats.Remaining[id])
	}
	// Audit entries stay keyed with the key that was primary when they were
	// written (re-keying would rewrite the chain and void its checkpoints),
	// so a key that seals no value may still be needed to verify them.
	audited, err := auditKeyUse(ctx, a.db)
	if err != nil {
		return err
	}
	for _, k := range a.cfg.EncryptionKeys[1:] {
		switch {
		case stats.Remaining[k.ID()] == 0 && audited[k.ID()] > 0:
			fmt.Fprintf(env.Stdout, "no value uses key %s any more, but it keys %d audit log entries: keep it in the configuration, after the first key, so `audit verify` can check them\n", k.ID(), audited[k.ID()])
		case stats.Remaining[k.ID()] == 0:
			fmt.Fprintf(env.Stdout, "no value uses key %s any more: it can be removed from the configuration\n", k.ID())
		}
	}
	return nil
}

// auditKeyUse counts audit entries by the key that keyed them.
func auditKeyUse(ctx context.Context, r storage.AuditReader) (map[string]int64, error) {
	out := map[string]int64{}
	for after := int64(0); ; {
		page, err := r.AuditChain(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if id, ok := storage.AuditKeyID(e.Hash); ok {
				out[id]++
			}
			after = e.Seq
		}
		if len(page) < 500 {
			return out, nil
		}
	}
}

func runAudit(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "audit", verbs: []verb{
		{"verify", auditVerify}, {"list", auditList},
	}}.run(ctx, env, args)
}

// auditVerify checks every link and keyed hash of the audit log, and
// holds it against the signed checkpoints serve exported (by default
// CRYPTOPAY_AUDIT_CHECKPOINT_FILE when it exists), which proves entries
// were neither removed from the end nor rewritten.
func auditVerify(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "audit verify")
	cpFile := fs.String("checkpoint", "", "checkpoint file to hold the log against (default: CRYPTOPAY_AUDIT_CHECKPOINT_FILE, if it exists)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		kr, err := a.cfg.Keyring()
		if err != nil {
			return err
		}
		path := cmp.Or(*cpFile, a.cfg.AuditCheckpointFile)
		cps, err := readAuditCheckpoints(path)
		if err != nil && (*cpFile != "" || !errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("audit checkpoints: %w", err)
		}
		rep, err := storage.VerifyAuditWith(ctx, a.db, kr, cps)
		if err != nil {
			return fmt.Errorf("audit log NOT intact after %d good entries: %w", rep.Entries, err)
		}
		fmt.Fprintf(env.Stdout, "audit log intact: %d entries, every link and hash verified\n", rep.Entries)
		switch {
		case rep.FirstKeyed > 0 && rep.Unkeyed > 0:
			fmt.Fprintf(env.Stdout, "keyed from entry %d; the %d entries before it predate keying and are protected by the keyed entries after them\n", rep.FirstKeyed, rep.Unkeyed)
		case rep.Entries > 0 && rep.FirstKeyed == 0:
			fmt.Fprintf(env.Stdout, "warning: no entry is keyed (no encryption key was configured when they were written): anyone who can write the database could have rewritten them\n")
		}
		if last := newestCheckpoint(cps); last != nil {
			fmt.Fprintf(env.Stdout, "holds against %d checkpoint(s) in %s, the newest of entry %d at %s\n", len(cps), path, last.Seq, last.At.Format(time.RFC3339))
		} else {
			fmt.Fprintf(env.Stdout, "warning: no checkpoint in %s: entries removed from the end of the log cannot be ruled out\n", path)
		}
		return nil
	})
}

func auditList(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "audit list")
	store := fs.String("store", "", `store id ("" lists operator entries outside any store)`)
	live := fs.Bool("live", false, "list live-mode entries (default: test)")
	action := fs.String("action", "", "only this action, e.g. api_key.revoked")
	limit := fs.Int("limit", 20, "at most this many (1-100)")
	before := fs.Int64("before-seq", 0, "entries older than this sequence number")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		es, more, err := a.svc.ListAuditEntries(ctx, nil, gateway.AuditQuery{StoreID: *store, Livemode: *live,
			Action: *action, Limit: *limit, BeforeSeq: *before})
		if err != nil {
			return err
		}
		for _, e := range es {
			fmt.Fprintf(env.Stdout, "%6d %s %-26s %-28s actor %s ip %s req %s %s\n", e.Seq,
				e.CreatedAt.Format(time.RFC3339), e.Action, e.Target, e.Actor, e.SourceIP, e.RequestID, e.Details)
		}
		if more {
			fmt.Fprintf(env.Stdout, "… more: --before-seq %d\n", es[len(es)-1].Seq)
		}
		return nil
	})
}

func invoicesRedact(ctx context.Context, env Env, args []string) error {
	id, err := idAndFlags(flags(env, "invoices redact"), args, "want: invoices redact <invoice id>")
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		inv, err := a.svc.RedactInvoice(ctx, nil, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "redacted %s: customer_reference and metadata erased; amounts and payments kept\n", inv.ID)
		return nil
	})
}

func runBackup(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "backup")
	out := fs.String("out", "", "file to write (default: <backup dir>/cryptopay-<time>.db.age)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error { return writeBackup(ctx, env, a, *out) })
}

// writeBackup is runBackup on an open app; out is --out.
func writeBackup(ctx context.Context, env Env, a *app, out string) error {
	if a.db.Engine() != "sqlite" {
		return backup.ErrNotSQLite
	}
	rs, err := backup.Recipients(a.cfg.BackupRecipient, a.cfg.BackupPassphrase)
	if err != nil {
		return err
	}
	path := out
	if path == "" {
		path = filepath.Join(a.cfg.BackupDir, "cryptopay-"+time.Now().UTC().Format("20060102T150405Z")+".db.age")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := backup.Write(ctx, a.db.Engine(), a.db.SQL(), filepath.Dir(path), f, rs...)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s (%d bytes of database, encrypted)\n", path, n)
	return writeVaultBackup(ctx, env, a, path)
}

// vaultBackupPath is where the subject key vault's copy of the backup at
// path goes: beside it, named after it.
func vaultBackupPath(path string) string {
	return strings.TrimSuffix(path, ".db.age") + ".vault.age"
}

// writeVaultBackup copies the subject key vault beside the database's
// backup at dbPath, encrypted to the same recipient. It is a file of its
// own on purpose: the database's copies may be kept for years, while a
// vault copy restores every subject key it held, erased since or not, so
// its copies must be deleted as soon as an erasure is to be final (see
// the README's Compliance section). Without it, a restore would have
// every invoice but none of their personal fields.
func writeVaultBackup(ctx context.Context, env Env, a *app, dbPath string) error {
	if a.vault == nil {
		return nil
	}
	vdb, ok := a.vault.SQLite()
	if !ok {
		fmt.Fprintln(env.Stdout, "the subject key vault is on PostgreSQL: back it up with pg_dump, on the vault's own (shorter) schedule")
		return nil
	}
	rs, err := backup.Recipients(a.cfg.BackupRecipient, a.cfg.BackupPassphrase)
	if err != nil {
		return err
	}
	path := vaultBackupPath(dbPath)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := backup.Write(ctx, "sqlite", vdb, filepath.Dir(path), f, rs...)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("subject key vault: %w", err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (%d bytes of subject key vault, encrypted): delete it once an erasure made after it must be final; a restore of it brings back every customer it held\n", path, n)
	return nil
}

func runRestore(_ context.Context, env Env, args []string) error {
	fs := flags(env, "restore")
	to := fs.String("to", "", "new database file to create (must not exist)")
	vaultTo := fs.String("vault-to", "", "new subject key vault file to create from the backup's vault copy (<backup>.vault.age; must not exist)")
	file, err := idAndFlags(fs, args, "want: restore <backup file> --to <new database file> [--vault-to <new vault file>]")
	if err != nil {
		return err
	}
	if *to == "" {
		return usageError{"--to is required"}
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	ids, err := backup.Identities(cfg.BackupIdentityFile, cfg.BackupPassphrase)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var vf *os.File
	if *vaultTo != "" { // before anything is written: both or neither
		if vf, err = os.Open(vaultBackupPath(file)); err != nil {
			return fmt.Errorf("subject key vault: %w", err)
		}
		defer vf.Close()
	}
	n, err := backup.Restore(f, *to, ids...)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %d bytes to %s; point CRYPTOPAY_DATABASE_URL at it and keep the same encryption key(s)\n", n, *to)
	if *vaultTo == "" {
		return nil
	}
	if n, err = backup.Restore(vf, *vaultTo, ids...); err != nil {
		return fmt.Errorf("subject key vault: %w (the database was restored)", err)
	}
	fmt.Fprintf(env.Stdout, "restored %d bytes of subject key vault to %s; point CRYPTOPAY_SUBJECT_VAULT at it\n", n, *vaultTo)
	return nil
}
