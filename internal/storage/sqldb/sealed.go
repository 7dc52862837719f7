package sqldb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Sealed columns hold fieldcrypt values: "v1:<key id>:..." when sealed,
// "plain:..." when the database runs without a key. Each value is bound
// (as AEAD additional data) to its table, column and row id, so a value
// copied to another row or column fails to open instead of reading as
// that row's data.
//
// Every feature that stores a sealed column registers it once with
// RegisterSealedColumn (from an init function beside its queries), and
// DB.Reseal, behind `cryptopay encryption rotate`, re-seals every
// registered column under the primary key.

// SealedColumn names one sealed TEXT column and the TEXT primary key its
// values are bound to.
type SealedColumn struct {
	Table, IDColumn, Column string
	// SkipEmpty leaves "" values alone: the column uses "" for "none"
	// (an endpoint's previous secret) rather than a sealed empty string.
	SkipEmpty bool
}

var (
	sealedMu   sync.Mutex
	sealedCols []SealedColumn
)

// RegisterSealedColumn adds c to the columns Reseal covers. It is meant
// for init functions; registering the same column twice is a no-op.
func RegisterSealedColumn(c SealedColumn) {
	sealedMu.Lock()
	defer sealedMu.Unlock()
	for _, have := range sealedCols {
		if have == c {
			return
		}
	}
	sealedCols = append(sealedCols, c)
}

// SealedColumns returns the registered sealed columns.
func SealedColumns() []SealedColumn {
	sealedMu.Lock()
	defer sealedMu.Unlock()
	return append([]SealedColumn(nil), sealedCols...)
}

func init() {
	RegisterSealedColumn(SealedColumn{Table: "invoices", IDColumn: "id", Column: "customer_reference"})
	RegisterSealedColumn(SealedColumn{Table: "invoices", IDColumn: "id", Column: "metadata"})
}

// SealAAD is the additional data a value of table.column in row id is
// sealed with. Every feature sealing a column through this package's
// registry must use it, or Reseal cannot open its values.
func SealAAD(table, column, id string) []byte {
	return []byte("cryptopay:" + table + ":" + column + ":" + id)
}

// crypt holds the keyring shared by the DB and every Tx made from it, so
// SetKeyring takes effect for all of them.
type crypt struct {
	kr         atomic.Pointer[fieldcrypt.Keyring]
	strictness strictness // see sealing.go
}

// plainAllowed returns nil if a plain value may be read or written; see
// strictness.check.
func (c *crypt) plainAllowed() error {
	if c == nil {
		return nil
	}
	return c.strictness.check()
}

func (c *crypt) keyring() *fieldcrypt.Keyring {
	if c == nil {
		return nil
	}
	return c.kr.Load()
}

// SetKeyring sets the keyring sealed columns are written and read with.
// A nil or empty keyring stores new values in the plain form. Values
// sealed with a key the keyring lacks fail to read with
// fieldcrypt.ErrUnknownKey.
func (db *DB) SetKeyring(kr *fieldcrypt.Keyring) { db.crypt.kr.Store(kr) }

// Keyring returns the keyring set with SetKeyring, or nil.
func (db *DB) Keyring() *fieldcrypt.Keyring { return db.crypt.keyring() }

// seal seals plaintext for table.column of row id.
func (s *queries) seal(table, column, id string, plaintext []byte) (string, error) {
	if !s.crypt.keyring().Enabled() {
		if err := s.crypt.plainAllowed(); err != nil {
			if errors.Is(err, ErrUnsealedValue) {
				err = ErrSealedWithoutKey
			}
			return "", fmt.Errorf("storage: seal %s.%s: %w", table, column, err)
		}
	}
	v, err := s.crypt.keyring().Seal(plaintext, SealAAD(table, column, id))
	if err != nil {
		return "", fmt.Errorf("storage: seal %s.%s: %w", table, column, err)
	}
	return v, nil
}

// open opens a sealed value of table.column of row id. A value written
// before the column was sealed (neither prefix) reads as the plain text
// it is, and so does a "plain:" value, unless the database's sealing is
// strict (sealing.go): then both are an error wrapping ErrUnsealedValue. A tampered, truncated or moved ciphertext, or one sealed with an
// unknown key, is an error wrapping the fieldcrypt error: never garbage.
func (s *queries) open(table, column, id, stored string) ([]byte, error) {
	if !strings.HasPrefix(stored, "v1:") {
		if err := s.crypt.plainAllowed(); err != nil {
			return nil, fmt.Errorf("storage: open %s.%s of %s: %w", table, column, id, err)
		}
		if !strings.HasPrefix(stored, "plain:") {
			return []byte(stored), nil
		}
	}
	b, err := s.crypt.keyring().Open(stored, SealAAD(table, column, id))
	if err != nil {
		return nil, fmt.Errorf("storage: open %s.%s of %s: %w", table, column, id, err)
	}
	return b, nil
}

// ResealStats counts what Reseal did.
type ResealStats struct {
	Checked  int64 // values read
	Resealed int64 // values rewritten under the primary key
	// Remaining counts values by the key id that still seals them after
	// the run ("plain" for values without a key).
	Remaining map[string]int64
}

// resealBatch is how many rows one Reseal transaction rewrites: small
// enough that a running server's writes wait only briefly.
const resealBatch = 200

// Reseal re-seals every value of every registered column that is not
// sealed with the keyring's primary key (plain values included), in
// batches of short transactions, and then counts the values by key. When
// no plain value remains it makes the database's sealing strict (see
// sealing.go): plain values are refused from then on. It
// fails without an enabled keyring, and stops at the first value it
// cannot open (tampered, or sealed with a key the keyring lacks), naming
// it, having rewritten nothing of that batch. Tables that do not exist
// (a feature not migrated yet) are skipped. Running it again is cheap and
// rewrites nothing.
func (db *DB) Reseal(ctx context.Context) (*ResealStats, error) {
	kr := db.crypt.keyring()
	if !kr.Enabled() {
		return nil, errors.New("storage: reseal: no encryption key is configured")
	}
	st := &ResealStats{Remaining: map[string]int64{}}
	for _, c := range SealedColumns() {
		exists, err := db.tableExists(ctx, c.Table)
		if err != nil {
			return st, err
		}
		if !exists {
			continue
		}
		after := ""
		for {
			var n int
			err := db.inTxOnce(ctx, func(stx storage.Tx) error {
				var err error
				n, after, err = stx.(*Tx).resealBatch(ctx, c, kr, after, st)
				return err
			})
			if err != nil {
				return st, err
			}
			if n < resealBatch {
				break
			}
		}
		if err := db.countKeys(ctx, c, st.Remaining); err != nil {
			return st, err
		}
	}
	if st.Remaining["plain"] == 0 {
		// Every value is sealed: from now on a plain one is tampering.
		if err := db.markStrict(ctx, kr.PrimaryID()); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (t *Tx) resealBatch(ctx context.Context, c SealedColumn, kr *fieldcrypt.Keyring, after string, st *ResealStats) (int, string, error) {
	rows, err := t.query(ctx, `SELECT `+c.IDColumn+`, `+c.Column+` FROM `+c.Table+
		` WHERE `+c.IDColumn+` > ? ORDER BY `+c.IDColumn+` LIMIT ?`, after, resealBatch)
	if err != nil {
		return 0, after, t.wrap("reseal "+c.Table, err)
	}
	type item struct{ id, v string }
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.v); err != nil {
			rows.Close()
			return 0, after, t.wrap("reseal "+c.Table, err)
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, after, t.wrap("reseal "+c.Table, err)
	}
	for _, it := range items {
		after = it.id
		st.Checked++
		if c.SkipEmpty && it.v == "" {
			continue
		}
		if !kr.NeedsReseal(it.v) && strings.HasPrefix(it.v, "v1:") {
			continue
		}
		pt, err := t.open(c.Table, c.Column, it.id, it.v)
		if err != nil {
			return 0, after, err
		}
		sealed, err := t.seal(c.Table, c.Column, it.id, pt)
		if err != nil {
			return 0, after, err
		}
		res, err := t.exec(ctx, `UPDATE `+c.Table+` SET `+c.Column+` = ? WHERE `+c.IDColumn+` = ? AND `+c.Column+` = ?`,
			sealed, it.id, it.v)
		if err != nil {
			return 0, after, t.wrap("reseal "+c.Table, err)
		}
		// No row: the value changed since it was read (a redaction), and
		// whatever replaced it was sealed with the primary key.
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			st.Resealed++
		}
	}
	return len(items), after, nil
}

// countKeys adds c's values to counts by the key id sealing them.
func (db *DB) countKeys(ctx context.Context, c SealedColumn, counts map[string]int64) error {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+c.Column+` FROM `+c.Table)
	if err != nil {
		return db.wrap("count keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return db.wrap("count keys", err)
		}
		if c.SkipEmpty && v == "" {
			continue
		}
		id := fieldcrypt.KeyID(v)
		if id == "" {
			id = "plain"
		}
		counts[id]++
	}
	return db.wrap("count keys", rows.Err())
}

func (db *DB) tableExists(ctx context.Context, table string) (bool, error) {
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`
	if db.d.DollarPlaceholders { // PostgreSQL
		q = `SELECT to_regclass($1) IS NOT NULL`
	}
	var ok bool
	if err := db.writer.QueryRowContext(ctx, q, table).Scan(&ok); err != nil {
		return false, db.wrap("table exists", err)
	}
	return ok, nil
}
