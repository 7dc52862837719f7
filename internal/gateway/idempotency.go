package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// IdempotencyRetention is how long a stored response stays replayable.
// Stripe promises 24 hours; records are kept twice that so a retry at the
// edge of the window never runs twice.
const IdempotencyRetention = 48 * time.Hour

// PruneIdempotencyRecords deletes responses older than the retention and
// returns how many it removed. serve calls it hourly.
func (s *Service) PruneIdempotencyRecords(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		var err error
		n, err = tx.DeleteIdempotencyRecords(ctx, s.Now().Add(-IdempotencyRetention))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune idempotency records: %w", err)
	}
	return n, nil
}
