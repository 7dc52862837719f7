package sqldb

import (
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// Times are stored as BIGINT microseconds since the Unix epoch, UTC, on
// both engines: exact, comparable in SQL, and free of driver time-zone
// handling. Reads return UTC times truncated to the microsecond.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros is a nullable time argument: nil for a nil time.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// nullString stores "" as NULL, for columns where "" means absent and
// NULLs must not collide in a unique constraint (an invoice's order id).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// errCorrupt reports a stored value this code could not have written.
var errCorrupt = errors.New("storage: malformed stored value")

func parseAmount(s string) (*big.Int, error) {
	v, err := storage.ParseBigText(s)
	if err != nil {
		return nil, errCorrupt
	}
	return v, nil
}

// toJSON encodes v for a JSON text column. A nil slice or map is stored as
// null and an empty one as [] or {}, so both read back as written.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func fromJSON(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return errCorrupt
	}
	return nil
}

func toUint32(v int64) (uint32, error) {
	if v < 0 || v > math.MaxUint32 {
		return 0, errCorrupt
	}
	return uint32(v), nil
}
