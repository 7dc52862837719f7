package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// checkAuditLog: the audit log verifies (every link and keyed hash) and
// holds against the signed checkpoints serve exports, so an entry changed,
// removed from the end or rewritten with the head moved back is found
// before production, not after an incident. It needs the encryption key:
// without one the chain is not keyed and anyone who can write the
// database can rewrite it.
func checkAuditLog(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	kr, err := in.Config.Keyring()
	if err != nil || !kr.Enabled() {
		return fail("no encryption key: the audit log's hash chain is not keyed, so whoever can write the database can rewrite it",
			"set an encryption key (see the encryption key item); entries from then on are keyed")
	}
	path := in.Config.AuditCheckpointFile
	var cps []storage.AuditCheckpoint
	switch f, err := os.Open(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fail("the audit checkpoint file is unreadable: "+err.Error(), "check CRYPTOPAY_AUDIT_CHECKPOINT_FILE and its permissions")
	default:
		cps, err = storage.ReadAuditCheckpoints(f)
		f.Close()
		if err != nil {
			return fail(fmt.Sprintf("%s: %v", path, err), "restore the checkpoint file from its copy (or the alert webhook's messages)")
		}
	}
	rep, err := storage.VerifyAuditWith(ctx, in.DB, kr, cps)
	if err != nil {
		return fail("the audit log does not verify: "+err.Error(),
			"investigate before going live: run `cryptopay audit verify` and compare with the checkpoints in the alert webhook's history")
	}
	if rep.Entries > 0 && len(cps) == 0 {
		return warn(fmt.Sprintf("%d entries verify, but there is no checkpoint in %s: entries removed from the end could not be noticed", rep.Entries, path),
			"run serve (it writes a checkpoint every CRYPTOPAY_AUDIT_CHECKPOINT_INTERVAL and at shutdown) and keep a copy of the file off this host")
	}
	detail := fmt.Sprintf("%d entries verify against %d checkpoint(s)", rep.Entries, len(cps))
	if rep.Unkeyed > 0 {
		detail += fmt.Sprintf("; the first %d predate keying", rep.Unkeyed)
	}
	return pass(detail)
}
