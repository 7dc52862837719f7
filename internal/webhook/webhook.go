// Package webhook delivers a store's events to its webhook endpoints:
// signed, durable (an outbox in the event's own transaction: the pending
// delivery rows themselves, claimed in batches by a dispatcher on the same
// database), retried with backoff for three days,
// recorded attempt by attempt, and guarded against SSRF. It also manages
// endpoints (create, update, rotate secrets) and the delivery log.
//
// It is not the HTTP API (internal/httpapi calls it) and does not decide
// what events exist (the gateway service writes them). Signatures come from
// the public webhooksig package so merchants verify with the same code.
package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Defaults of Config.
const (
	DefaultAttemptTimeout  = 10 * time.Second
	DefaultRotationOverlap = 24 * time.Hour
	DefaultWorkers         = 32
	DefaultPerEndpoint     = 8
	// DefaultRescueAfter is AttemptTimeout (10 s) plus the job margin (5 s)
	// plus 5 s: the claim a dispatcher takes on a delivery lasts that long.
	// An attempt still unrecorded by then cannot still be running (its
	// request and its record are bounded by the timeout and the margin), so
	// it was lost with a crashed process, and the delivery is due again:
	// a crash delays deliveries by RescueAfter plus one poll at most. A
	// longer claim buys nothing; a shorter one would run live attempts twice.
	DefaultRescueAfter = DefaultAttemptTimeout + jobMargin + 5*time.Second
	// jobMargin is how long an attempt may take beyond its request's
	// timeout, to record the attempt.
	jobMargin = 5 * time.Second
	// DefaultPollInterval is how often an idle dispatcher looks for due
	// deliveries (retries, and events written by another process); an
	// event appended through this process's outbox wakes it at once.
	DefaultPollInterval = 250 * time.Millisecond
	// claimCooldown is the least time between two claims while deliveries
	// keep coming: the attempts that finish meanwhile free their workers
	// together, so one claim refills many.
	claimCooldown   = 2 * time.Millisecond
	maxResponseBody = 4 << 10
)

// Config carries the service's dependencies and knobs; zero values take
// the defaults above.
type Config struct {
	// DB is the store; it must be an engine whose transactions expose
	// their *sql.Tx (sqldb).
	DB storage.DB
	// Outbox writes the events this service makes (endpoint disabled,
	// test) and enqueues deliveries. Pass the one the gateway service and
	// the watcher use; nil builds one on DB with Now.
	Outbox *Outbox
	// Keyring seals endpoint secrets at rest. Required.
	Keyring *fieldcrypt.Keyring
	// Auditor records endpoint changes and secret rotations in the audit
	// log, in the transaction that makes them (the gateway service). Nil
	// records nothing: only tests of this package leave it out.
	Auditor Auditor
	Logger  *slog.Logger
	// Version names the gateway in the User-Agent header.
	Version string
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Rand draws jitter in [0, 1) (math/rand/v2 by default).
	Rand     func() float64
	Schedule Schedule
	// AllowLoopback lets test-mode endpoints be on loopback (127.0.0.0/8,
	// ::1), for a developer's machine (the dev sandbox turns it on). Off,
	// test-mode endpoints are held to live mode's address rules, so a test
	// key of a production gateway cannot make it call, and log the answers
	// of, services on the gateway's own host. Live endpoints never reach
	// loopback.
	AllowLoopback bool
	// Resolver resolves endpoint hosts (net.DefaultResolver by default).
	Resolver        Resolver
	AttemptTimeout  time.Duration
	RotationOverlap time.Duration
	// Workers is how many deliveries run at once; PerEndpoint caps how many
	// of those go to one endpoint, so a slow endpoint cannot take them all.
	Workers     int
	PerEndpoint int
	// RescueAfter is how long a claimed delivery may stay unrecorded before
	// it is taken to have been lost with a crashed process and is due
	// again. It must be at least AttemptTimeout plus 5 s; zero means
	// AttemptTimeout plus 10 s (DefaultRescueAfter by default).
	RescueAfter time.Duration
	// PollInterval is how often an idle dispatcher looks for due
	// deliveries (DefaultPollInterval by default).
	PollInterval time.Duration
	// OnAttempt, if set, is told the result of every delivery attempt:
	// succeeded, retrying, failed or not_sent (metrics). It must not block.
	OnAttempt func(result string)
}

// Auditor appends an audit entry inside tx; *gateway.Service is one. An
// error fails the transaction, so no change goes unrecorded.
type Auditor interface {
	Audit(ctx context.Context, tx storage.Tx, r gateway.AuditRecord) error
}

// Service manages endpoints and delivers events.
type Service struct {
	db       storage.DB
	audit    Auditor
	keys     *fieldcrypt.Keyring
	log      *slog.Logger
	ua       string
	now      func() time.Time
	rand     func() float64
	sched    Schedule
	overlap  time.Duration
	timeout  time.Duration
	perEP    int
	live     *guard // no loopback
	test     *guard // loopback allowed with Config.AllowLoopback
	liveHTTP *http.Client
	testHTTP *http.Client
	outbox   *Outbox
	workers  int
	poll     time.Duration
	lease    time.Duration       // Config.RescueAfter
	onTry    func(result string) // Config.OnAttempt
	disp     dispatcher
}

// New returns a Service. It fails on a keyring missing or a RescueAfter
// shorter than the attempt's bound. Call Start to begin delivering; a
// Service never started still enqueues (SendTest, Redeliver) for a process
// that delivers.
func New(cfg Config) (*Service, error) {
	if cfg.Keyring == nil {
		return nil, errors.New("webhook: a keyring is required")
	}
	resolver := cfg.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	s := &Service{
		db:      cfg.DB,
		audit:   cfg.Auditor,
		keys:    cfg.Keyring,
		log:     cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		ua:      "CryptoPay-Webhooks/" + cmp.Or(cfg.Version, "dev"),
		now:     cfg.Now,
		rand:    cfg.Rand,
		sched:   cfg.Schedule.orDefault(),
		overlap: cmp.Or(cfg.RotationOverlap, DefaultRotationOverlap),
		timeout: cmp.Or(cfg.AttemptTimeout, DefaultAttemptTimeout),
		perEP:   cmp.Or(cfg.PerEndpoint, DefaultPerEndpoint),
		live:    &guard{resolver: resolver},
		test:    &guard{resolver: resolver, allowLoopback: cfg.AllowLoopback},
		onTry:   cfg.OnAttempt,
	}
	// Several endpoints may share a host: keep at least 16 connections.
	perHost := max(16, s.perEP)
	s.liveHTTP, s.testHTTP = newHTTPClient(s.live, s.timeout, perHost), newHTTPClient(s.test, s.timeout, perHost)
	if s.rand == nil {
		s.rand = defaultRand
	}
	if cfg.Now == nil {
		s.now = time.Now
	}
	jobTimeout := s.timeout + jobMargin
	s.lease = cmp.Or(cfg.RescueAfter, jobTimeout+5*time.Second)
	if s.lease < jobTimeout {
		return nil, fmt.Errorf("webhook: RescueAfter %v must be at least the attempt timeout plus 5s (%v)", s.lease, jobTimeout)
	}
	s.workers = cmp.Or(cfg.Workers, DefaultWorkers)
	s.poll = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	var err error
	s.outbox = cfg.Outbox
	if s.outbox == nil {
		if s.outbox, err = NewOutbox(cfg.DB, s.now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start begins delivering: a dispatcher claims due deliveries and attempts
// them on up to Workers goroutines until Stop. The deliveries are the
// gateway's own tables (its migrations), so there is nothing else to set up.
func (s *Service) Start(ctx context.Context) error {
	return s.disp.start(s)
}

// Stop stops claiming deliveries and waits for the attempts in flight
// until ctx ends; those still running then are abandoned, and their
// deliveries are due again when their claim ends (RescueAfter): receivers
// de-duplicate by event id. It is safe before Start and twice.
func (s *Service) Stop(ctx context.Context) error {
	s.disp.stop(ctx)
	return nil
}
