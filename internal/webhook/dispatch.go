package webhook

import (
	"context"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// dispatcher works the outbox: the pending rows of webhook_deliveries.
//
// One loop claims due deliveries in batches, each with its endpoint in one
// joined read and a claim (a lease until RescueAfter) in one write
// transaction, and queues them for Workers goroutines, keeping up to
// Workers more claimed than are being sent so no worker waits for a claim.
// A worker makes one attempt (one POST) and hands the attempt to be
// recorded on a goroutine of its own, then takes the next delivery: the
// record waits for its commit, which the store's group commit shares with
// the other attempts finishing meanwhile (one commit for many), while the
// worker already sends the next. Until its record commits a delivery stays
// claimed, so it is never claimed twice.
//
// Guarantees, as the River jobs gave them before: a delivery is attempted
// at least once, even across a crash (an unrecorded claim ends and the
// delivery is due again); two dispatchers (two instances on PostgreSQL)
// never claim the same delivery at once (SKIP LOCKED, and the claim
// itself); a retry waits in the row (next_attempt_at), not in memory.
// Deliveries are claimed earliest due first but attempted in parallel, so
// they may arrive out of order, as docs/events.md says.
type dispatcher struct {
	mu      sync.Mutex
	started bool
	stopped bool
	queued  int // claimed, not yet taken by a worker; guarded by mu
	busy    int // taken by a worker, not yet sent; guarded by mu

	stopc    chan struct{} // closed by stop
	done     chan struct{} // closed when the loop has returned and the workers have
	kick     chan struct{} // a worker freed, or deliveries were enqueued
	ready    chan storage.ClaimedWebhookDelivery
	outcomes chan *outcome // attempts made, to be recorded
	work     context.Context
	cancel   context.CancelFunc
}

// prefetch is how many deliveries per worker may be claimed at once
// (being sent, or queued): one claim's commit is shared by that many, and
// the workers send the queued ones while the next claim commits.
const prefetch = 4

// recorders is how many batches of attempts are recorded at once: while
// one commits, the next fills.
const recorders = 2

// maxRecordBatch bounds the attempts one transaction records.
const maxRecordBatch = 128

func (d *dispatcher) start(s *Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return nil
	}
	d.started = true
	d.stopc, d.done, d.kick = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	d.ready = make(chan storage.ClaimedWebhookDelivery, prefetch*s.workers)
	d.outcomes = make(chan *outcome, 2*s.workers)
	d.work, d.cancel = context.WithCancel(context.Background())
	wake := d.poke
	s.outbox.wake.Store(&wake)
	var workers, recs sync.WaitGroup
	for range s.workers {
		workers.Go(func() { d.worker(s) })
	}
	for range recorders {
		recs.Go(func() { d.recorder(s) })
	}
	go func() {
		d.loop(s)
		close(d.ready) // the workers hand back what is queued, then return
		workers.Wait()
		close(d.outcomes) // the recorders record what was sent, then return
		recs.Wait()
		close(d.done)
	}()
	return nil
}

// poke wakes the loop without blocking.
func (d *dispatcher) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// stop ends the loop and waits until ctx ends for the workers to send what
// was claimed and for the attempts to be recorded; then it cancels those
// still running. Their deliveries are due again when their claims end.
func (d *dispatcher) stop(ctx context.Context) {
	d.mu.Lock()
	if !d.started || d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	close(d.stopc)
	d.mu.Unlock()
	select {
	case <-d.done:
	case <-ctx.Done():
		d.cancel()
		<-d.done
	}
	d.cancel()
}

// room is how many more deliveries the loop may claim: enough to keep
// every worker busy and as many again queued.
func (d *dispatcher) room(workers int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return prefetch*workers - d.queued - d.busy
}

func (d *dispatcher) loop(s *Service) {
	var wait time.Duration // before the next claim
	for {
		kicked := false
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-d.stopc:
				t.Stop()
				return
			case <-t.C:
			case <-d.kick:
				t.Stop()
				kicked = true
				// Let the workers finishing with this one free their room
				// too, and an enqueuing transaction commit, so one claim
				// takes many.
				time.Sleep(claimCooldown)
			}
		}
		select {
		case <-d.stopc:
			return
		default:
		}
		n := d.room(s.workers)
		if n < max(1, s.workers/4) {
			wait = s.poll // a worker taking a delivery kicks
			continue
		}
		claimed, err := s.claim(d.work, n)
		if err != nil {
			s.log.Error("webhook: claim deliveries", "err", err)
			wait = s.poll
			continue
		}
		d.mu.Lock()
		d.queued += len(claimed)
		d.mu.Unlock()
		for _, c := range claimed {
			d.ready <- c // room guarantees space
		}
		switch {
		case len(claimed) > 0:
			wait = claimCooldown // more may be due: claim again as workers free
		case kicked:
			// Woken by an outbox whose transaction had not committed yet,
			// perhaps: look once more soon rather than a poll later.
			wait = min(s.poll, 20*time.Millisecond)
		default:
			wait = s.poll
		}
	}
}

// claim claims up to n due deliveries, leaving out the endpoints that
// already have PerEndpoint attempts in flight.
func (s *Service) claim(ctx context.Context, n int) ([]storage.ClaimedWebhookDelivery, error) {
	skip := s.fullEndpoints()
	var out []storage.ClaimedWebhookDelivery
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		now := s.now().UTC()
		var err error
		out, err = tx.ClaimWebhookDeliveries(ctx, now, now.Add(s.lease), n, skip)
		return err
	})
	return out, err
}

// worker sends claimed deliveries until the loop closes ready. A delivery
// whose endpoint already has PerEndpoint attempts in flight (several of
// its deliveries came in one claim) is handed back to be claimed again in
// a second or two, so a slow endpoint cannot take every worker. Once the
// service stops, what is still queued is handed back due at once, for the
// next process; an attempt cut short by a stop that gave up waiting is not
// recorded (its delivery is due again when the claim ends).
func (d *dispatcher) worker(s *Service) {
	for c := range d.ready {
		d.mu.Lock()
		d.queued--
		d.busy++
		stopping := d.stopped
		d.mu.Unlock()
		d.poke()
		switch {
		case stopping:
			d.handBack(s, c.Delivery.ID, 0)
		case !s.acquire(c.Endpoint.ID):
			d.handBack(s, c.Delivery.ID, time.Second+time.Duration(s.rand()*float64(time.Second)))
		default:
			o := s.attemptOnce(d.work, &c.Delivery, &c.Endpoint)
			s.release(c.Endpoint.ID)
			if d.work.Err() == nil {
				d.outcomes <- o
			}
		}
		d.mu.Lock()
		d.busy--
		d.mu.Unlock()
		d.poke()
	}
}

// recorder records the attempts the workers made, as many as are waiting
// in each transaction.
func (d *dispatcher) recorder(s *Service) {
	for o := range d.outcomes {
		batch := []*outcome{o}
	more:
		for len(batch) < maxRecordBatch {
			select {
			case o, ok := <-d.outcomes:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		s.recordAttempts(d.work, batch)
	}
}

// handBack makes a claimed delivery due again after wait, unattempted.
func (d *dispatcher) handBack(s *Service, id string, wait time.Duration) {
	at := s.now().UTC().Add(wait)
	ctx := context.WithoutCancel(d.work)
	err := s.db.InTx(ctx, func(tx storage.Tx) error { return tx.ReleaseWebhookDelivery(ctx, id, at) })
	if err != nil {
		s.log.Warn("webhook: hand back delivery; due again when its claim ends", "delivery", id, "err", err)
	}
}

// fullEndpoints lists the endpoints at their in-flight cap.
func (s *Service) fullEndpoints() []string {
	s.slotsMu.Lock()
	defer s.slotsMu.Unlock()
	var out []string
	for id, n := range s.slots {
		if n >= s.perEP {
			out = append(out, id)
		}
	}
	return out
}
