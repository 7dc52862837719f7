package sweep

import (
	"context"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
)

// TargetSource lists the deposit addresses due for sweeping: the watch side
// implements it over the invoices it has recorded as paid.
type TargetSource interface {
	SweepTargets(ctx context.Context) ([]Target, error)
}

// SweptRecorder is implemented by a TargetSource that keeps books of what
// was swept: Run calls it for each mined, successful sweep, so the next
// round expects at those addresses only what arrived after r's block.
type SweptRecorder interface {
	RecordSwept(ctx context.Context, b Batch, r *types.Receipt) error
}

// Run sweeps every interval until ctx ends: it asks source for targets,
// sends a round and waits (polling every poll) for each sent transaction to
// be mined, logging what each moved. A failed round is logged and retried at
// the next tick; it never touches invoice state. It returns ctx's error.
func (s *Sweeper) Run(ctx context.Context, source TargetSource, interval, poll time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.round(ctx, source, poll)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Sweeper) round(ctx context.Context, source TargetSource, poll time.Duration) {
	targets, err := source.SweepTargets(ctx)
	if err != nil {
		s.log.Error("sweep: listing targets", "err", err)
		return
	}
	if len(targets) == 0 {
		return
	}
	res, err := s.Sweep(ctx, targets)
	if err != nil {
		s.log.Error("sweep round", "err", err)
	}
	if res.Deferred {
		s.log.Info("sweep deferred: gas price above the ceiling", "gas_price_wei", res.GasPrice, "ceiling_wei", s.cfg.MaxGasPrice)
		return
	}
	for _, b := range res.Batches {
		r, err := Wait(ctx, s.backend, b.Tx, poll)
		if err != nil {
			s.log.Error("sweep: waiting for a sweep", "tx", b.Tx.Hash(), "err", err)
			continue
		}
		if r.Status != 1 {
			s.log.Error("sweep reverted", "tx", b.Tx.Hash(), "block", r.BlockNumber)
			continue
		}
		for _, f := range FlushedIn(r) {
			s.log.Info("swept", "tx", b.Tx.Hash(), "address", f.Address, "asset", f.Asset, "amount", f.Amount)
		}
		if rec, ok := source.(SweptRecorder); ok {
			if err := rec.RecordSwept(ctx, b, r); err != nil {
				s.log.Error("sweep: recording a mined sweep", "tx", b.Tx.Hash(), "err", err)
			}
		}
	}
}
