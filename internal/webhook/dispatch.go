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
// transaction, and queues them for Workers goroutines, keeping several
// times more claimed than are being sent so no worker waits for a claim.
// A worker makes one attempt (one POST) and hands the attempt to a
// recorder, which records the attempts waiting in one transaction (a few
// statements for all), then takes the next delivery. Until its record
// commits a delivery stays claimed, so it is never claimed twice.
//
// An endpoint gets at most PerEndpoint attempts at once. A delivery for an
// endpoint at its cap waits in memory (it holds no worker) until one of
// that endpoint's attempts ends, and the worker ending it goes on with it;
// claims leave out endpoints with that many waiting. A waiting delivery
// whose claim would end before its attempt could is handed back instead.
//
// Guarantees (the same as when deliveries ran as River jobs): a delivery is attempted
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
	queued  int                // claimed, in ready
	busy    int                // taken by a worker
	slots   map[string]int     // endpoint id → attempts in flight
	parked  map[string][]claim // endpoint id → deliveries waiting for a slot
	nParked int

	stopc    chan struct{} // closed by stop
	done     chan struct{} // closed when the loop, workers and recorders have returned
	kick     chan struct{} // a worker freed, or deliveries were enqueued
	ready    chan claim
	outcomes chan *outcome // attempts made, to be recorded
	work     context.Context
	cancel   context.CancelFunc
}

// claim is a claimed delivery and when its claim ends.
type claim struct {
	storage.ClaimedWebhookDelivery
	until time.Time
}

// prefetch is how many deliveries per worker may be claimed at once
// (being sent, queued, or waiting for their endpoint): one claim's commit
// is shared by that many, and the workers send the queued ones while the
// next claim commits.
const prefetch = 16

// recorders is how many batches of attempts are recorded at once: while
// one commits, the next fills.
const recorders = 2

// maxRecordBatch bounds the attempts one transaction records.
const maxRecordBatch = 256

func (d *dispatcher) start(s *Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return nil
	}
	d.started = true
	d.slots, d.parked = map[string]int{}, map[string][]claim{}
	d.stopc, d.done, d.kick = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	d.ready = make(chan claim, prefetch*s.workers)
	d.outcomes = make(chan *outcome, recorders*maxRecordBatch)
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
		d.mu.Lock()
		var waiting []claim
		for _, cs := range d.parked {
			waiting = append(waiting, cs...)
		}
		d.parked, d.nParked = map[string][]claim{}, 0
		d.mu.Unlock()
		for _, c := range waiting {
			d.handBack(s, c)
		}
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

// stop ends the loop and waits until ctx ends for the workers and
// recorders to finish (what is claimed but not sent is handed back, due at
// once, for the next process); then it cancels the attempts still running,
// which are not recorded: their deliveries are due again when their claims
// end.
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

// room is how many more deliveries the loop may claim.
func (d *dispatcher) room(workers int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return prefetch*workers - d.queued - d.busy - d.nParked
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
		claimed, err := d.claim(s, n)
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
// already have PerEndpoint deliveries waiting for a slot.
func (d *dispatcher) claim(s *Service, n int) ([]claim, error) {
	d.mu.Lock()
	var skip []string
	for id, cs := range d.parked {
		if len(cs) >= s.perEP {
			skip = append(skip, id)
		}
	}
	d.mu.Unlock()
	var out []claim
	err := s.db.InTx(d.work, func(tx storage.Tx) error {
		now := s.now().UTC()
		until := now.Add(s.lease)
		cs, err := tx.ClaimWebhookDeliveries(d.work, now, until, n, skip)
		out = make([]claim, len(cs))
		for i, c := range cs {
			out[i] = claim{c, until}
		}
		return err
	})
	return out, err
}

// worker sends claimed deliveries until the loop closes ready; once the
// service stops, what is still queued is handed back due at once. An
// attempt cut short by a stop that gave up waiting is not recorded.
func (d *dispatcher) worker(s *Service) {
	for c := range d.ready {
		d.mu.Lock()
		d.queued--
		d.busy++
		stopping := d.stopped
		d.mu.Unlock()
		d.poke()
		if stopping {
			d.handBack(s, c)
		} else {
			for ok := d.acquire(s, c); ok; c, ok = d.next(s, c.Endpoint.ID) {
				c := c // the outcome keeps pointers into it; the loop moves on
				o := s.attemptOnce(d.work, &c.Delivery, &c.Endpoint)
				if d.work.Err() == nil {
					d.outcomes <- o
				}
			}
		}
		d.mu.Lock()
		d.busy--
		d.mu.Unlock()
		d.poke()
	}
}

// acquire takes a slot of c's endpoint for c, or parks c until one frees.
func (d *dispatcher) acquire(s *Service, c claim) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := c.Endpoint.ID
	if d.slots[id] < s.perEP {
		d.slots[id]++
		return true
	}
	d.parked[id] = append(d.parked[id], c)
	d.nParked++
	return false
}

// next passes the slot of endpoint id, whose attempt just ended, to a
// delivery waiting for it, or frees it. A waiting delivery whose claim
// would end before its attempt could (AttemptTimeout plus the margin) is
// handed back instead, due at once, so no claim ends under a live attempt.
func (d *dispatcher) next(s *Service, id string) (claim, bool) {
	for {
		d.mu.Lock()
		cs := d.parked[id]
		if len(cs) == 0 || d.stopped {
			if d.slots[id]--; d.slots[id] <= 0 {
				delete(d.slots, id)
			}
			d.mu.Unlock()
			return claim{}, false
		}
		c := cs[0]
		if len(cs) == 1 {
			delete(d.parked, id)
		} else {
			d.parked[id] = cs[1:]
		}
		d.nParked--
		d.mu.Unlock()
		if s.now().Add(s.timeout + jobMargin).Before(c.until) {
			return c, true
		}
		d.handBack(s, c)
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

// handBack makes a claimed delivery due again at once, unattempted, if
// the claim is still c's: a delivery that waited past its claim may have
// been claimed again since, and that claim is not this one to end.
func (d *dispatcher) handBack(s *Service, c claim) {
	ctx := context.WithoutCancel(d.work)
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		return tx.ReleaseWebhookDelivery(ctx, c.Delivery.ID, c.until, s.now().UTC())
	})
	if err != nil {
		s.log.Warn("webhook: hand back delivery; due again when its claim ends", "delivery", c.Delivery.ID, "err", err)
	}
}
