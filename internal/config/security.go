package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
)

// Security holds the encryption-at-rest and backup settings.
type Security struct {
	// EncryptionKeys seal sensitive fields; the first seals new values,
	// the others only open old ones (during a rotation). Empty: no key.
	EncryptionKeys     []fieldcrypt.Key
	BackupDir          string
	BackupRecipient    string // an age X25519 recipient (age1...)
	BackupPassphrase   string
	BackupIdentityFile string // age identities for restore
	// AuditCheckpointFile receives signed checkpoints of the audit log's
	// head every AuditCheckpointInterval and at shutdown.
	AuditCheckpointFile     string
	AuditCheckpointInterval time.Duration
}

// securityVars are appended to Vars.
var securityVars = []Var{
	{"CRYPTOPAY_ENCRYPTION_KEY", "", "AES-256 key(s) sealing sensitive fields at rest: 64 hex or base64 characters; a comma-separated list during a rotation, the first sealing new values. Required in live mode."},
	{"CRYPTOPAY_ENCRYPTION_KEY_FILE", "", "File holding the encryption key(s), one per line, first line sealing; instead of CRYPTOPAY_ENCRYPTION_KEY."},
	{"CRYPTOPAY_BACKUP_DIR", "<data dir>/backups", "Directory `cryptopay backup` writes encrypted backups to."},
	{"CRYPTOPAY_BACKUP_RECIPIENT", "", "age X25519 recipient (age1...) backups are encrypted to."},
	{"CRYPTOPAY_BACKUP_PASSPHRASE", "", "Passphrase backups are encrypted with when no recipient is set (age scrypt)."},
	{"CRYPTOPAY_BACKUP_IDENTITY_FILE", "", "age identity file `cryptopay restore` decrypts with (or the passphrase)."},
	{"CRYPTOPAY_AUDIT_CHECKPOINT_FILE", "<data dir>/audit-checkpoints.jsonl", "File serve appends signed checkpoints of the audit log's head to (and sends to the alert webhook); `audit verify` holds the log against it. Keep it, or a copy, off the database host."},
	{"CRYPTOPAY_AUDIT_CHECKPOINT_INTERVAL", "15m", "How often serve exports an audit checkpoint when the log has grown (and always at shutdown)."},
}

func init() { Vars = append(Vars, securityVars...) }

// loadSecurity reads the security variables. A malformed key, or both a
// key and a key file, is an error naming the variable, never the key.
func (c *Config) loadSecurity(env func(string) string) error {
	raw, file := env("CRYPTOPAY_ENCRYPTION_KEY"), env("CRYPTOPAY_ENCRYPTION_KEY_FILE")
	name := "CRYPTOPAY_ENCRYPTION_KEY"
	var parts []string
	switch {
	case raw != "" && file != "":
		return fmt.Errorf("set CRYPTOPAY_ENCRYPTION_KEY or CRYPTOPAY_ENCRYPTION_KEY_FILE, not both")
	case raw != "":
		parts = strings.Split(raw, ",")
	case file != "":
		name = "CRYPTOPAY_ENCRYPTION_KEY_FILE"
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				parts = append(parts, l)
			}
		}
		if len(parts) == 0 {
			return fmt.Errorf("%s: the file holds no key", name)
		}
	}
	seen := map[string]bool{}
	for i, p := range parts {
		k, err := fieldcrypt.ParseKey(p)
		if err != nil {
			return fmt.Errorf("%s: key %d: %w", name, i+1, err)
		}
		if seen[k.ID()] {
			return fmt.Errorf("%s: key %s is listed twice", name, k.ID())
		}
		seen[k.ID()] = true
		c.EncryptionKeys = append(c.EncryptionKeys, k)
	}
	c.BackupDir = or(env("CRYPTOPAY_BACKUP_DIR"), c.DataDir+"/backups")
	c.BackupRecipient = env("CRYPTOPAY_BACKUP_RECIPIENT")
	c.BackupPassphrase = env("CRYPTOPAY_BACKUP_PASSPHRASE")
	c.BackupIdentityFile = env("CRYPTOPAY_BACKUP_IDENTITY_FILE")
	c.AuditCheckpointFile = or(env("CRYPTOPAY_AUDIT_CHECKPOINT_FILE"), filepath.Join(c.DataDir, "audit-checkpoints.jsonl"))
	iv, err := time.ParseDuration(or(env("CRYPTOPAY_AUDIT_CHECKPOINT_INTERVAL"), "15m"))
	if err != nil || iv < time.Second {
		return fmt.Errorf("CRYPTOPAY_AUDIT_CHECKPOINT_INTERVAL: want a duration of at least 1s, such as 15m")
	}
	c.AuditCheckpointInterval = iv
	return nil
}

// Keyring returns the keyring of the configured encryption keys; without
// keys it seals nothing (the plain form).
func (c *Config) Keyring() (*fieldcrypt.Keyring, error) {
	return fieldcrypt.NewKeyring(c.EncryptionKeys...)
}
