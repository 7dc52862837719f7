package sqldb

import (
	"context"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// ListRateSnapshots reads the whole (small) rate_snapshots table.
func (s *queries) ListRateSnapshots(ctx context.Context) ([]storage.RateRecord, error) {
	rows, err := s.query(ctx, `SELECT source, pair, rate, observed_at, fetched_at FROM rate_snapshots ORDER BY source, pair`)
	if err != nil {
		return nil, s.wrap("list rate snapshots", err)
	}
	defer rows.Close()
	out := []storage.RateRecord{}
	for rows.Next() {
		var (
			r           storage.RateRecord
			obs, fetchd int64
		)
		if err := rows.Scan(&r.Source, &r.Pair, &r.Rate, &obs, &fetchd); err != nil {
			return nil, s.wrap("list rate snapshots", err)
		}
		r.ObservedAt, r.FetchedAt = fromMicros(obs), fromMicros(fetchd)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list rate snapshots", err)
	}
	return out, nil
}

// ReplaceRateSnapshot deletes the source's rows and inserts rs, in the
// caller's transaction. The insert is an upsert: on PostgreSQL two
// instances refreshing the same provider at once may both delete before
// either inserts (READ COMMITTED), and the later one then overwrites the
// earlier's rows instead of failing on the key.
func (t *Tx) ReplaceRateSnapshot(ctx context.Context, source string, rs []storage.RateRecord) error {
	if _, err := t.exec(ctx, `DELETE FROM rate_snapshots WHERE source = ?`, source); err != nil {
		return t.wrap("replace rate snapshot", err)
	}
	for _, r := range rs {
		if _, err := t.exec(ctx, `INSERT INTO rate_snapshots (source, pair, rate, observed_at, fetched_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (source, pair) DO UPDATE SET rate = excluded.rate, observed_at = excluded.observed_at, fetched_at = excluded.fetched_at`,
			source, r.Pair, r.Rate, micros(r.ObservedAt), micros(r.FetchedAt)); err != nil {
			return t.wrap("replace rate snapshot", err)
		}
	}
	return nil
}
