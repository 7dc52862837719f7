package sweepbook

import (
	"context"
	"errors"
	"time"

	"github.com/cryptopay/cryptopay/internal/evm/sweep"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Leader runs the periodic sweeper of one network on the instance that
// holds its lease (LeaseName), the way the chain watchers lead: a lease
// row with an epoch, renewed every third of its TTL; a failed renewal ends
// the sweeping at once, and every write of the book is fenced by the epoch.
type Leader struct {
	Book     *Book
	Sweeper  *sweep.Sweeper
	Instance string        // this instance's holder name
	TTL      time.Duration // the lease's time to live
	Interval time.Duration // between rounds
	Poll     time.Duration // receipt polling while a sweep is mined
}

// Run sweeps while this instance leads, and waits to lead otherwise,
// until ctx ends. It returns nil then.
func (l *Leader) Run(ctx context.Context) error {
	db, name := l.Book.DB, LeaseName(l.Book.Chain.Network)
	for {
		epoch, err := db.AcquireLease(ctx, name, l.Instance, l.TTL)
		if err == nil {
			l.lead(ctx, name, epoch)
		} else if !errors.Is(err, storage.ErrLeaseHeld) && ctx.Err() == nil {
			l.Book.log().WarnContext(ctx, "sweeper cannot take its lease", "err", err)
		}
		t := time.NewTimer(l.TTL / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// lead sweeps every Interval while the lease at epoch holds.
func (l *Leader) lead(ctx context.Context, name string, epoch int64) {
	db := l.Book.DB
	lctx, lose := context.WithCancel(ctx)
	defer lose()
	l.Book.Lease, l.Book.Epoch = name, epoch
	l.Book.log().InfoContext(ctx, "sweeper leading", "lease", name, "epoch", epoch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Sweeper.Run(lctx, l.Book, l.Interval, l.Poll)
	}()
	t := time.NewTicker(l.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			lose()
			<-done
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = db.ReleaseLease(rctx, name, l.Instance, epoch)
			cancel()
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.TTL/3)
		err := db.RenewLease(rctx, name, l.Instance, epoch, l.TTL)
		cancel()
		if err != nil && ctx.Err() == nil {
			l.Book.log().WarnContext(ctx, "sweeper lost its lease; following", "err", err)
			lose()
			<-done
			return
		}
	}
}
