package sqldb

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Leases (storage.LeaseDB). Expiry compares against Dialect.NowMicros, the
// database's own clock, so two instances with skewed clocks agree on when a
// lease ran out. Each operation is one statement in a short transaction of
// its own: nothing is tied to a session, so a dropped connection loses
// nothing and a transaction-mode pooler is fine.

// AcquireLease inserts the row, or takes it over if it expired or holder
// already holds it, bumping the epoch either way.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (int64, error) {
	now := db.d.NowMicros
	var epoch int64
	err := db.InTx(ctx, func(tx storage.Tx) error {
		t := tx.(*Tx)
		return t.wrap("acquire lease", t.queryRow(ctx, `INSERT INTO leases (name, holder, epoch, expires_at)
			VALUES (?, ?, 1, `+now+` + ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leases.epoch + 1,
				expires_at = excluded.expires_at
			WHERE leases.expires_at <= `+now+` OR leases.holder = excluded.holder
			RETURNING epoch`, name, holder, ttl.Microseconds()).Scan(&epoch))
	})
	if errors.Is(err, storage.ErrNotFound) { // the WHERE refused the update
		return 0, storage.ErrLeaseHeld
	}
	return epoch, err
}

// RenewLease extends the lease if it is still at epoch. It does not
// require the lease to be unexpired: if nobody took it meanwhile, the
// epoch is unchanged and no other instance has acted on it.
func (db *DB) RenewLease(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) error {
	err := db.InTx(ctx, func(tx storage.Tx) error {
		t := tx.(*Tx)
		res, err := t.exec(ctx, `UPDATE leases SET expires_at = `+db.d.NowMicros+` + ?
			WHERE name = ? AND holder = ? AND epoch = ?`, ttl.Microseconds(), name, holder, epoch)
		return t.mustAffect("renew lease", res, err)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return storage.ErrLeaseLost
	}
	return err
}

// ReleaseLease expires the lease at once if it is still at epoch.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string, epoch int64) error {
	return db.InTx(ctx, func(tx storage.Tx) error {
		t := tx.(*Tx)
		_, err := t.exec(ctx, `UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND epoch = ?`,
			name, holder, epoch)
		return t.wrap("release lease", err)
	})
}

// GetLease reads the row; ExpiresAt is on the database's clock.
func (s *queries) GetLease(ctx context.Context, name string) (*storage.Lease, error) {
	var (
		l       storage.Lease
		expires int64
	)
	err := s.queryRow(ctx, `SELECT name, holder, epoch, expires_at FROM leases WHERE name = ?`, name).
		Scan(&l.Name, &l.Holder, &l.Epoch, &expires)
	if err != nil {
		return nil, s.wrap("get lease", err)
	}
	l.ExpiresAt = fromMicros(expires)
	return &l, nil
}

// CheckLease takes the lease row's lock with a no-op update that matches
// only the epoch the caller holds (as LockInvoice does, in SQL both
// engines accept). On PostgreSQL the row stays locked until the
// transaction ends, so an AcquireLease by another instance waits for this
// transaction and then sees its writes; on SQLite the single writer
// already excludes it.
func (t *Tx) CheckLease(ctx context.Context, name string, epoch int64) error {
	res, err := t.exec(ctx, `UPDATE leases SET epoch = epoch WHERE name = ? AND epoch = ?`, name, epoch)
	if err := t.mustAffect("check lease", res, err); errors.Is(err, storage.ErrNotFound) {
		return storage.ErrLeaseLost
	} else if err != nil {
		return err
	}
	return nil
}

// invoiceNote is the payload announcing a new invoice
// (Dialect.NotifyInvoiceInline).
type invoiceNote struct {
	ID           string `json:"id"`
	Network      string `json:"network"`
	Address      string `json:"address"`
	MonitorUntil int64  `json:"monitor_until"` // microseconds
}

// notePayload is the payload announcing inv, for
// Dialect.NotifyInvoiceInline: an array of one note (listeners also read
// the longer arrays earlier releases sent once per transaction).
func notePayload(inv *cryptopay.Invoice) (string, error) {
	b, err := json.Marshal([]invoiceNote{{inv.ID, string(inv.Network), inv.Address, micros(inv.MonitorUntil)}})
	return string(b), err
}

// decodeNotes reads a notification's payload: a JSON array of notes, or
// one note (as instances before batching sent).
func decodeNotes(p string) ([]invoiceNote, error) {
	if strings.HasPrefix(p, "[") {
		var ns []invoiceNote
		err := json.Unmarshal([]byte(p), &ns)
		return ns, err
	}
	var n invoiceNote
	if err := json.Unmarshal([]byte(p), &n); err != nil {
		return nil, err
	}
	return []invoiceNote{n}, nil
}

// ListenInvoices decodes the engine's notifications (Config.Listen).
func (db *DB) ListenInvoices(ctx context.Context) (<-chan storage.WatchedAddress, error) {
	if db.listen == nil {
		return nil, nil
	}
	raw, err := db.listen(ctx)
	if err != nil {
		return nil, db.wrap("listen for invoices", err)
	}
	out := make(chan storage.WatchedAddress, 256)
	go func() {
		defer close(out)
		for p := range raw {
			ns, err := decodeNotes(p)
			if err != nil {
				db.log.Warn("malformed invoice notification", "err", err)
				continue
			}
			for _, n := range ns {
				select {
				case out <- storage.WatchedAddress{InvoiceID: n.ID, Network: cryptopay.Network(n.Network),
					Address: n.Address, MonitorUntil: fromMicros(n.MonitorUntil)}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
