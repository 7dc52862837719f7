package sqldb

import (
	"slices"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
)

// SubscriberCacheTTL bounds how long a store's webhook subscribers, read
// for an event's outbox rows, are reused without reading them again. Every
// invoice creation and state change appends an event, and the endpoints
// behind it change rarely, so the read once a second instead of once an
// event spares the writer a query per event (12 % of the SQLite writer's
// time at 32 clients, issue 14).
//
// It is also the bound on how late an endpoint change made elsewhere (by
// another gateway instance on the same PostgreSQL database, or by the CLI
// beside a running SQLite gateway) reaches this instance's new events: at
// most SubscriberCacheTTL after it committed. A change made through this
// DB takes effect exactly: the cache is emptied when the writing
// statement runs and again when its transaction ends, and nothing read
// while such a transaction is in flight is kept (it may be that
// transaction's uncommitted state, or the state just before it commits).
const SubscriberCacheTTL = time.Second

type subscriberKey struct {
	storeID  string
	livemode bool
}

type subscriberEntry struct {
	eps []cryptopay.WebhookEndpoint // enabled endpoints, secrets removed
	at  time.Time                   // when read, on the monotonic clock
}

type subscriberCache struct {
	mu sync.Mutex
	m  map[subscriberKey]subscriberEntry
	// gen counts invalidations: a read that began before one must not
	// store what it read.
	gen uint64
	// writers counts transactions in flight that wrote webhook_endpoints;
	// while there is one, the cache is bypassed and never filled.
	writers int
}

// get returns the cached enabled endpoints of the key when fresh, and the
// generation a read on a miss must hand to put.
func (c *subscriberCache) get(k subscriberKey) ([]cryptopay.WebhookEndpoint, uint64, bool) {
	if c == nil {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || c.writers > 0 || time.Since(e.at) >= SubscriberCacheTTL {
		return nil, c.gen, false
	}
	return e.eps, c.gen, true
}

// put stores what a read begun at gen returned, unless something was
// invalidated since or a writing transaction is in flight, and returns it
// without secrets. Secrets are never kept, cached or not: an event's
// outbox rows need the endpoints' ids only, and a secret stays in no
// memory longer than a statement needs it.
func (c *subscriberCache) put(k subscriberKey, gen uint64, at time.Time, eps []cryptopay.WebhookEndpoint) []cryptopay.WebhookEndpoint {
	kept := slices.Clone(eps)
	for i := range kept {
		kept[i].Secret, kept[i].PreviousSecret = "", ""
	}
	if c == nil {
		return kept
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.writers > 0 {
		return kept
	}
	if c.m == nil {
		c.m = map[subscriberKey]subscriberEntry{}
	}
	c.m[k] = subscriberEntry{eps: kept, at: at}
	return kept
}

// beginWrite is called by a transaction before its first write to
// webhook_endpoints; endWrite once that transaction has ended, committed
// or not.
func (c *subscriberCache) beginWrite() {
	c.mu.Lock()
	c.writers++
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

func (c *subscriberCache) endWrite() {
	c.mu.Lock()
	c.writers--
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// wroteEndpoints records, once per Tx, that it writes webhook_endpoints.
func (t *Tx) wroteEndpoints() {
	if t.subs == nil || t.endpointsWritten {
		return
	}
	t.endpointsWritten = true
	t.subs.beginWrite()
}

// ended is called once the transaction t ran in has ended.
func (t *Tx) ended() {
	if t.endpointsWritten {
		t.endpointsWritten = false
		t.subs.endWrite()
	}
}
