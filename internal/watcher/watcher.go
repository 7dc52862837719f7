// Package watcher follows one chain for the gateway: it feeds blocks,
// disconnections and mempool transactions from a Source into the pure
// tracker, and stores what the tracker reports (payments, invoice
// transitions, events) together with the chain cursor in one database
// transaction per step, so a restart resumes exactly where it stopped.
//
// It is chain-agnostic: Bitcoin plugs in through internal/bitcoin/btcsource,
// EVM chains will through their own Source. It is not a node client and
// holds no business rules beyond translating tracker events; invoice state
// comes from cryptopay.Invoice.Advance.
package watcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/monitor"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// Source is a chain as the watcher needs it. Implementations are thin
// adapters over a node.
type Source interface {
	Network() cryptopay.Network
	// Tip returns the best block.
	Tip(ctx context.Context) (chain.BlockRef, error)
	// BlockHash returns the hash of the best chain's block at height.
	BlockHash(ctx context.Context, height int64) (string, error)
	// Block returns the block ref, keeping the transactions the filter
	// wants (it may keep more).
	Block(ctx context.Context, ref chain.BlockRef, f Filter) (chain.Block, error)
	// Mempool returns the ids of the transactions in the node's mempool.
	Mempool(ctx context.Context) ([]string, error)
	// Tx returns a mempool transaction, or an error if it is gone.
	Tx(ctx context.Context, txid string) (chain.Tx, error)
	// KeyOf returns the watch key of a deposit address, AddressOf the
	// address of a key.
	KeyOf(address string) (chain.Key, error)
	AddressOf(k chain.Key) string
	// Wakeups returns a channel that receives a value whenever the node
	// announces a block or a transaction, or a nil channel when the node
	// cannot push (the watcher then polls). The channel closes when the
	// subscription ends.
	Wakeups(ctx context.Context) (<-chan struct{}, error)
}

// NoMempool is implemented by a source whose node offers no mempool view
// the watcher can rely on: on EVM chains a token transfer exists only as a
// log of a mined transaction, and clients disagree on what they expose of
// their pools. The watcher then skips the mempool pass (an empty list would
// read as "every unconfirmed payment was dropped"): payments are first seen
// mined, and a payment whose block left the best chain stays reorged
// (counted, unconfirmed, never credited) until it is mined again or a rival
// spending the same sender nonce is mined (double spent).
type NoMempool interface {
	NoMempool() bool
}

// Filter tells a source which transactions of a block matter.
type Filter interface {
	HasKey(chain.Key) bool
	HasSpend(chain.Outpoint) bool
}

// Outbox writes an event and enqueues its webhook deliveries, both in tx,
// so a step's events and their deliveries commit together. The webhook
// package's *Outbox is the implementation; it is declared here, where it
// is used, so the watcher depends on no job queue and no webhook code.
type Outbox interface {
	Append(ctx context.Context, tx storage.Tx, e *cryptopay.Event) error
}

// Config carries a watcher's dependencies and tuning.
type Config struct {
	DB storage.DB
	// Outbox writes every event the watcher makes. Required: a watcher
	// without one would write events whose deliveries nobody queues.
	Outbox Outbox
	Source Source
	Logger *slog.Logger
	Now    func() time.Time
	// PollInterval is how often the node is asked for news when it does not
	// push them, and the longest a pushed node goes unchecked (default 1s).
	PollInterval time.Duration
	// SafetyLimit is the deepest reorg handled automatically (default 100).
	SafetyLimit int
	// Alert reports what an operator must see now: a reorg deeper than the
	// safety limit, a settled invoice whose payment left the best chain, a
	// double spend. Nil only logs.
	Alert func(ctx context.Context, title, text string)
	// Monitor are the payment monitoring rules (monitor.go); zero fields
	// take the guide's defaults.
	Monitor monitor.Rules
	// Rates values invoices not priced in their store's policy currency
	// for high-value alerts; nil leaves those values unknown.
	Rates cryptopay.RateSource
	// Instance names this gateway instance as a holder of the network's
	// lease (lead.go); default: host name, process id and a random tail.
	Instance string
	// LeaseTTL is how long leadership lasts without renewal (default 15s):
	// the leader renews every third of it, and a crashed leader is
	// replaced within about 1⅓ TTL.
	LeaseTTL time.Duration
	// RescanInterval is how often the leader reloads every invoice still
	// inside its monitoring window (default 1m), whichever instance made
	// it, beside the incremental pick-up.
	RescanInterval time.Duration
	// InvoicePollInterval is how often the leader looks for invoices made
	// by other instances while it cannot be notified of them (default 2s;
	// a quarter of RescanInterval while notifications arrive).
	InvoicePollInterval time.Duration
	// WatchAfterWindow is how long an invoice's address stays watched after
	// its monitoring window, so that money arriving late is still recorded
	// (as outside_window) rather than never seen (default 7 days).
	WatchAfterWindow time.Duration
	// OnPaymentDetected, if set, is told for every new payment how long
	// the pass that found it took to record it, from its start to its
	// commit; OnProcessed the height of each block step stored. Metrics
	// use them; they must not block.
	OnPaymentDetected func(time.Duration)
	OnProcessed       func(height int64)
}

// DefaultWatchAfterWindow is Config.WatchAfterWindow's default.
const DefaultWatchAfterWindow = 7 * 24 * time.Hour

// Watcher follows one chain. Run drives it; Step is one pass, for tests.
type Watcher struct {
	db      storage.DB
	outbox  Outbox
	src     Source
	network cryptopay.Network
	log     *slog.Logger
	now     func() time.Time
	poll    time.Duration
	alert   func(ctx context.Context, title, text string)
	rules   monitor.Rules
	rates   cryptopay.RateSource
	grace   time.Duration // Config.WatchAfterWindow

	leaseName   string
	instance    string
	leaseTTL    time.Duration
	rescan      time.Duration
	invoicePoll time.Duration

	watch *tracker.WatchSet
	tr    *tracker.Tracker

	mu       sync.Mutex
	readyErr error
	pending  []pendingWatch // addresses announced by Watch, not yet in the set
	epoch    int64          // of the lease held; 0 when not leading (lead.go)
	standby  bool           // run by Run and not leading: announcements are dropped

	kick      chan struct{}
	listening atomic.Bool // notified of new invoices (lead.go listen)
	pollNow   atomic.Bool // poll for new invoices at the next step

	mempool   map[string][]chain.Key // txids fed to the tracker, and the keys they pay
	newKeys   map[chain.Key]struct{} // joined the watched set since the last mempool pass
	marks     []cursorMark           // recent polls' cursors (watched.go)
	lastFull  time.Time              // last full rescan (real time)
	lastPoll  time.Time              // last poll for new invoices (real time)
	lastPrune time.Time
	loaded    bool
	// observed is the time of the last complete pass over the node (tip
	// and mempool): the settlement loop's clock. Nothing expires on time
	// the watcher did not see; zero until the first complete pass.
	observed time.Time
	// caughtUp: the last block sync reached the node's tip, so the
	// mempool list may be taken as the node's whole mempool.
	caughtUp bool
	// passStart is when the current pass began (real, monotonic time),
	// for Config.OnPaymentDetected.
	passStart   time.Time
	onDetected  func(time.Duration)
	onProcessed func(height int64)
}

type pendingWatch struct {
	address string
	until   time.Time
}

// errNotStarted is the readiness error before the first successful step.
var errNotStarted = errors.New("chain watcher starting")

// NodeBehindError: the node's best chain is a prefix of what the watcher
// already followed (after -reindex, or a failover to a lagging node). The
// watcher waits for it rather than taking it for a reorg; meanwhile it is
// not ready and nothing expires.
type NodeBehindError struct {
	Node, Ours int64 // tip heights
}

func (e *NodeBehindError) Error() string {
	return fmt.Sprintf("node behind: height %d < our tip %d", e.Node, e.Ours)
}

// New returns a watcher; it touches neither the node nor the database
// until Run or Step. It panics without cfg.Outbox: that is a wiring
// mistake, and caught at start-up it cannot silently drop deliveries.
func New(cfg Config) *Watcher {
	if cfg.Outbox == nil {
		panic("watcher: Config.Outbox is required; without it events would be written with no webhook deliveries")
	}
	w := &Watcher{
		db:       cfg.DB,
		outbox:   cfg.Outbox,
		src:      cfg.Source,
		network:  cfg.Source.Network(),
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)).With("network", string(cfg.Source.Network())),
		now:      cfg.Now,
		poll:     cmp.Or(cfg.PollInterval, time.Second),
		alert:    cfg.Alert,
		rules:    cfg.Monitor.WithDefaults(),
		rates:    cfg.Rates,
		grace:    cmp.Or(cfg.WatchAfterWindow, DefaultWatchAfterWindow),
		watch:    tracker.NewWatchSet(0),
		readyErr: errNotStarted,
		kick:     make(chan struct{}, 1),
		mempool:  map[string][]chain.Key{},
		newKeys:  map[chain.Key]struct{}{},

		leaseName:   storage.LeaseName(cfg.Source.Network()),
		instance:    cmp.Or(cfg.Instance, defaultInstance()),
		leaseTTL:    cmp.Or(cfg.LeaseTTL, defaultLeaseTTL),
		rescan:      cmp.Or(cfg.RescanInterval, time.Minute),
		invoicePoll: cmp.Or(cfg.InvoicePollInterval, 2*time.Second),
		onDetected:  cfg.OnPaymentDetected,
		onProcessed: cfg.OnProcessed,
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.tr = tracker.New(tracker.Config{SafetyLimit: cfg.SafetyLimit}, w.watch)
	return w
}

// Network returns the watched network.
func (w *Watcher) Network() cryptopay.Network { return w.network }

// Ready returns nil when the last pass over the node succeeded, else why
// the watcher is behind. /readyz reports it.
func (w *Watcher) Ready() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.readyErr
}

func (w *Watcher) setReady(err error) {
	w.mu.Lock()
	w.readyErr = err
	w.mu.Unlock()
}

// Watch starts watching a new invoice's address at once, without waiting
// for the next refresh from the database; a standby drops it (the leader
// hears of it through the database). Safe for concurrent use.
func (w *Watcher) Watch(address string, until time.Time) { w.announce(address, until) }

func (w *Watcher) announce(address string, until time.Time) {
	w.mu.Lock()
	if w.standby {
		w.mu.Unlock()
		return
	}
	w.pending = append(w.pending, pendingWatch{address, until})
	w.mu.Unlock()
	w.wake()
}

// Watching reports whether address is in the watched set: the leader looks
// for payments to it.
func (w *Watcher) Watching(address string) bool {
	k, err := w.src.KeyOf(address)
	w.mu.Lock()
	set := w.watch
	w.mu.Unlock()
	return err == nil && set.Has(k)
}

func (w *Watcher) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Watcher) subscribe(ctx context.Context) <-chan struct{} {
	ch, err := w.src.Wakeups(ctx)
	if err != nil {
		w.log.InfoContext(ctx, "node push notifications unavailable; polling", "err", err, "interval", w.poll)
		return nil
	}
	return ch
}

// Step makes one pass of the settlement loop: refresh the watched
// addresses, bring the tracker to the node's best chain (a reorg applied as
// one step), feed the mempool, and then, the pass complete, apply time:
// expire the invoices due at the time of this pass (expiry.go). A pass that
// fails anywhere applies no time.
func (w *Watcher) Step(ctx context.Context) error {
	if !w.loaded {
		if err := w.load(ctx); err != nil {
			return err
		}
	}
	if err := w.refresh(ctx); err != nil {
		return err
	}
	if w.tr.Halted() {
		return tracker.ErrHalted
	}
	started := w.now()
	w.passStart = time.Now()
	if err := w.syncBlocks(ctx); err != nil {
		return err
	}
	if nm, ok := w.src.(NoMempool); !ok || !nm.NoMempool() {
		if err := w.syncMempool(ctx); err != nil {
			return err
		}
	}
	w.observed = started
	return w.expire(ctx, started)
}

// load restores the tracker from the stored snapshot, or leaves it empty
// on the first start (it then starts at the node's tip).
func (w *Watcher) load(ctx context.Context) error {
	w.tr = tracker.New(tracker.Config{SafetyLimit: w.tr.SafetyLimit()}, w.watch)
	st, err := w.db.GetChainState(ctx, w.network)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return fmt.Errorf("load chain state: %w", err)
	default:
		snap, err := decodeSnapshot(st.Snapshot)
		if err != nil {
			return err
		}
		if err := w.tr.Restore(snap.recent, snap.payments, snap.conflicts); err != nil {
			return fmt.Errorf("restore tracker: %w", err)
		}
		w.log.InfoContext(ctx, "chain watcher resumed", "height", st.Height, "hash", st.Hash, "tracked_payments", len(snap.payments))
	}
	w.mempool = map[string][]chain.Key{}
	w.loaded = true
	return nil
}

// filter adapts the watch set and the tracker to a source's Filter.
type filter struct{ w *Watcher }

func (f filter) HasKey(k chain.Key) bool         { return f.w.watch.Has(k) }
func (f filter) HasSpend(op chain.Outpoint) bool { return f.w.tr.IsWatchedSpend(op) }

// syncBlocks brings the tracker to the node's best chain. A node whose
// chain is a prefix of ours is behind, not reorganised: the watcher waits
// (NodeBehindError). Otherwise it disconnects the blocks above the highest
// height where the node reports our block and connects the node's blocks up
// to its tip, and stores the whole switch as one step: invoices see only
// the difference between the old tip and the new, never the transient
// counts in between. A long catch-up past the old tip is stored in batches.
// After a restart this re-checks the last blocks, so a reorg that happened
// while the gateway was down is handled like any other.
func (w *Watcher) syncBlocks(ctx context.Context) error {
	tipAt := time.Now()
	w.caughtUp = false
	tip, err := w.src.Tip(ctx)
	if err != nil {
		return fmt.Errorf("node tip: %w", err)
	}
	mine, ok := w.tr.Tip()
	if (!ok || mine != tip) && w.lastPoll.Before(tipAt) {
		// Every payment in the blocks up to tip pays an invoice committed
		// before the tip was read: load those invoices before connecting,
		// so no payment is in a block processed before its address was
		// watched.
		if err := w.pollInvoices(ctx, false); err != nil {
			return err
		}
	}
	if !ok {
		blk, err := w.src.Block(ctx, tip, filter{w})
		if err != nil {
			return fmt.Errorf("block %d: %w", tip.Height, err)
		}
		events, err := w.tr.Connect(blk)
		if err != nil {
			return err
		}
		if err := w.persist(ctx, events, map[string]int64{blk.Hash: blk.Time}); err != nil {
			return err
		}
		w.caughtUp = true
		return nil
	}
	if mine == tip {
		w.caughtUp = true
		return nil
	}
	fork, behind, err := w.tr.ForkPoint(tip.Height, func(h int64) (string, error) { return w.src.BlockHash(ctx, h) })
	if err != nil {
		return fmt.Errorf("find fork point: %w", err)
	}
	if behind {
		return &NodeBehindError{Node: tip.Height, Ours: mine.Height}
	}
	var events []tracker.Event
	times := map[string]int64{}
	batch := 0
	for _, r := range slices.Backward(w.tr.Recent()) {
		if r.Height <= fork {
			break
		}
		evs, err := w.tr.Disconnect(r)
		if errors.Is(err, tracker.ErrReorgTooDeep) {
			w.raise(ctx, "Chain reorganisation deeper than the safety limit",
				fmt.Sprintf("The %s node's best chain no longer contains block %d (%s), the oldest block the gateway keeps. Crediting has stopped; investigate the node before restarting the watcher.",
					w.network, r.Height, r.Hash))
			return err
		}
		if err != nil {
			return w.fail(fmt.Errorf("disconnect %d: %w", r.Height, err))
		}
		w.log.WarnContext(ctx, "block disconnected", "height", r.Height, "hash", r.Hash)
		events = append(events, evs...)
		// The node puts the disconnected transactions back in its mempool
		// and drops what they conflict with: feed the whole mempool again.
		w.mempool = map[string][]chain.Key{}
	}
	for h := fork + 1; h <= tip.Height; h++ {
		hash, err := w.src.BlockHash(ctx, h)
		if err != nil {
			return w.fail(fmt.Errorf("block hash %d: %w", h, err))
		}
		blk, err := w.src.Block(ctx, chain.BlockRef{Height: h, Hash: hash}, filter{w})
		if err != nil {
			return w.fail(fmt.Errorf("block %d: %w", h, err))
		}
		evs, err := w.tr.Connect(blk)
		if errors.Is(err, tracker.ErrOutOfOrder) {
			// The node reorganised while we read: drop the half-applied
			// switch; the next pass finds the new fork.
			return w.fail(fmt.Errorf("node reorganised during sync: %w", err))
		}
		if err != nil {
			return w.fail(err)
		}
		events = append(events, evs...)
		times[blk.Hash] = blk.Time
		batch++
		if h > mine.Height && batch >= maxBatch && h < tip.Height {
			if err := w.persist(ctx, events, times); err != nil {
				return err
			}
			events, times, batch = nil, map[string]int64{}, 0
		}
	}
	if err := w.persist(ctx, events, times); err != nil {
		return err
	}
	w.caughtUp = true
	return nil
}

// maxBatch is how many blocks past the old tip one stored step may hold
// while catching up.
const maxBatch = 50

// syncMempool feeds transactions new to the mempool to the tracker, and
// feeds again those already fed that pay an address which joined the
// watched set since (an invoice created on another instance, announced
// after its payment reached the mempool), so such a payment is seen at 0
// confirmations, not at its first block. When no block arrived meanwhile
// it also hands the tracker the node's whole mempool list, so a payment
// the node dropped stops counting. All of it is stored as one step.
func (w *Watcher) syncMempool(ctx context.Context) error {
	ids, err := w.src.Mempool(ctx)
	if err != nil {
		return fmt.Errorf("mempool: %w", err)
	}
	// Only transactions fed to the tracker are remembered, so one that
	// could not be fetched is tried again on the next pass.
	seen := make(map[string][]chain.Key, len(ids))
	var events []tracker.Event
	for _, id := range ids {
		keys, fed := w.mempool[id]
		if fed {
			seen[id] = keys
			if !w.paysNewKey(keys) {
				continue
			}
		}
		tx, err := w.src.Tx(ctx, id)
		if err != nil {
			// Mined or evicted between the two calls, or a node hiccup:
			// the block or the next pass will show it.
			w.log.DebugContext(ctx, "mempool transaction not fetched", "txid", id, "err", err)
			continue
		}
		seen[id] = outputKeys(tx)
		evs, err := w.tr.Mempool(tx)
		if err != nil {
			return w.fail(err)
		}
		events = append(events, evs...)
	}
	// A transaction missing from the list is out of the mempool, unless
	// it was just mined in a block not connected yet: only when the tip has
	// not moved since the block sync is the list the whole truth.
	if w.caughtUp {
		tip, err := w.src.Tip(ctx)
		mine, _ := w.tr.Tip()
		if err == nil && tip == mine {
			evs, err := w.tr.MempoolListed(ids)
			if err != nil {
				return w.fail(err)
			}
			events = append(events, evs...)
		}
	}
	if len(events) > 0 {
		if err := w.persist(ctx, events, nil); err != nil {
			return err
		}
	}
	w.mempool = seen
	clear(w.newKeys)
	return nil
}

func (w *Watcher) paysNewKey(keys []chain.Key) bool {
	for _, k := range keys {
		if _, ok := w.newKeys[k]; ok {
			return true
		}
	}
	return false
}

func outputKeys(tx chain.Tx) []chain.Key {
	if len(tx.Outputs) == 0 {
		return nil
	}
	keys := make([]chain.Key, len(tx.Outputs))
	for i, o := range tx.Outputs {
		keys[i] = o.Key
	}
	return keys
}

// fail reloads the tracker from the database after an error that may have
// left it ahead of what was stored, and returns err.
func (w *Watcher) fail(err error) error {
	w.loaded = false
	return err
}

func (w *Watcher) raise(ctx context.Context, title, text string) {
	if w.alert != nil {
		w.alert(ctx, title, text) // the alerter logs it too
		return
	}
	w.log.ErrorContext(ctx, "ALERT: "+title, "detail", text)
}
