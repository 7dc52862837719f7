package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/cryptopay/cryptopay/internal/alert"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Audit checkpoints: serve signs the audit log's head (sequence number,
// hash, time) with the audit key and appends it to
// CRYPTOPAY_AUDIT_CHECKPOINT_FILE, one JSON object a line, and sends it to
// the alert webhook, so a copy of the head lives outside the database.
// `audit verify` then proves that the log still reaches every checkpoint
// unchanged: a head moved back, or a chain rewritten, fails.

// errAuditBehindCheckpoint: the database's audit head no longer extends
// the last checkpoint; serve alerts and records nothing.
var errAuditBehindCheckpoint = errors.New("audit log does not extend its last checkpoint")

// readAuditCheckpoints reads a checkpoint file; a missing file is no
// checkpoints, with fs.ErrNotExist for callers that care.
func readAuditCheckpoints(path string) ([]storage.AuditCheckpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cps, err := storage.ReadAuditCheckpoints(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cps, nil
}

// exportAuditCheckpoint signs the current head and records it, unless the
// newest checkpoint already holds it. It refuses (and alerts) when the
// head no longer extends the newest checkpoint: writing it would bless a
// truncated or rewritten log. Without an encryption key there is nothing
// to sign with, and it records nothing.
func (a *app) exportAuditCheckpoint(ctx context.Context, now time.Time) (*storage.AuditCheckpoint, error) {
	kr, err := a.cfg.Keyring()
	if err != nil || !kr.Enabled() {
		return nil, err
	}
	seq, hash, err := a.db.AuditHead(ctx)
	if err != nil || seq == 0 {
		return nil, err
	}
	path := a.cfg.AuditCheckpointFile
	cps, err := readAuditCheckpoints(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if last := newestCheckpoint(cps); last != nil {
		if err := a.extendsCheckpoint(ctx, last, seq); err != nil {
			a.alerter.Alert(ctx, alert.Alert{Severity: alert.Critical, Title: "Audit log tampered with",
				Text:   err.Error() + "; run `cryptopay audit verify`. No new checkpoint is written until this is resolved.",
				Fields: map[string]string{"checkpoint_file": path}})
			return nil, err
		}
		if last.Seq == seq && last.Hash == hex.EncodeToString(hash) {
			return last, nil
		}
	}
	key, _ := kr.AuditKey(kr.PrimaryID())
	cp := storage.NewAuditCheckpoint(seq, hash, now, kr.PrimaryID(), key)
	line, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	a.alerter.Alert(ctx, alert.Alert{Severity: alert.Info, Title: "Audit checkpoint",
		Text:   fmt.Sprintf("audit log head: entry %d; keep this line, `cryptopay audit verify` checks the log against it: %s", seq, line),
		Fields: map[string]string{"seq": fmt.Sprint(seq), "hash": cp.Hash, "at": cp.At.Format(time.RFC3339Nano), "key_id": cp.KeyID, "mac": cp.MAC}})
	return &cp, nil
}

// extendsCheckpoint checks the log still holds the checkpointed entry with
// its hash, and has not been cut back before it.
func (a *app) extendsCheckpoint(ctx context.Context, cp *storage.AuditCheckpoint, headSeq int64) error {
	if headSeq < cp.Seq {
		return fmt.Errorf("%w: the head is entry %d, but the checkpoint of %s records entry %d (truncated)",
			errAuditBehindCheckpoint, headSeq, cp.At.Format(time.RFC3339), cp.Seq)
	}
	es, err := a.db.AuditChain(ctx, cp.Seq-1, 1)
	if err != nil {
		return err
	}
	if len(es) == 0 || es[0].Seq != cp.Seq || hex.EncodeToString(es[0].Hash) != cp.Hash {
		return fmt.Errorf("%w: entry %d is missing or differs from the checkpoint of %s",
			errAuditBehindCheckpoint, cp.Seq, cp.At.Format(time.RFC3339))
	}
	return nil
}

func newestCheckpoint(cps []storage.AuditCheckpoint) *storage.AuditCheckpoint {
	var last *storage.AuditCheckpoint
	for i := range cps {
		if last == nil || cps[i].Seq > last.Seq {
			last = &cps[i]
		}
	}
	return last
}

// startAuditCheckpoints exports a checkpoint every interval and once more
// when stopped: serve stops it after requests and workers have ended and
// before the alerter closes, so the last checkpoint holds the run's last
// entries (pending authentication failures are flushed first) and still
// reaches the alert webhook. Cancelling ctx alone does not end it.
func (a *app) startAuditCheckpoints(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	export := func(ctx context.Context) {
		if _, err := a.exportAuditCheckpoint(ctx, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Warn("audit checkpoint", "err", err)
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(a.cfg.AuditCheckpointInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				final := context.WithoutCancel(ctx)
				if _, err := a.svc.FlushAuthFailures(final, true); err != nil {
					a.log.Warn("audit: flush authentication failures", "err", err)
				}
				export(final)
				dctx, cancel := context.WithTimeout(final, 5*time.Second)
				a.alerter.Drain(dctx) // the alerter closes next: let the checkpoint out first
				cancel()
				return
			case <-t.C:
				export(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}
