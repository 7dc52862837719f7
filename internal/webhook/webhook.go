// Package webhook delivers a store's events to its webhook endpoints:
// signed, durable (an outbox in the event's own transaction, worked by
// River on the same database), retried with backoff for three days,
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
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

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
	// plus 5 s: a job still marked running after that cannot still be
	// working (River cancels it at its job timeout), so it was lost with a
	// crashed process. Rescuing soon after bounds how late a crash makes
	// deliveries: RescueAfter plus River's 30 s rescuer interval at most.
	// A later rescue buys nothing; an earlier one would run live jobs twice.
	DefaultRescueAfter = DefaultAttemptTimeout + jobMargin + 5*time.Second
	// jobMargin is how long a job may run beyond its attempt's timeout, to
	// record the attempt.
	jobMargin           = 5 * time.Second
	DefaultPollInterval = 250 * time.Millisecond
	maxResponseBody     = 4 << 10
	queueName           = "webhooks"
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
	// RescueAfter is how long a delivery job may stay running before it is
	// taken to have been lost with a crashed process and is run again. It
	// must be at least AttemptTimeout plus 5 s (the job timeout); zero
	// means AttemptTimeout plus 10 s (DefaultRescueAfter by default).
	RescueAfter  time.Duration
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
	river    *river.Client[*sql.Tx]
	outbox   *Outbox
	slotsMu  sync.Mutex
	slots    map[string]int // endpoint id → attempts in flight
	started  bool
	onTry    func(result string) // Config.OnAttempt
}

// New returns a Service. It fails if the River client cannot be built.
// Call Start to begin delivering; a Service never started still enqueues
// (SendTest, Redeliver) for a process that works the queue.
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
		slots:   map[string]int{},
		onTry:   cfg.OnAttempt,
	}
	s.liveHTTP, s.testHTTP = newHTTPClient(s.live, s.timeout), newHTTPClient(s.test, s.timeout)
	if s.rand == nil {
		s.rand = defaultRand
	}
	if cfg.Now == nil {
		s.now = time.Now
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker{s: s}); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	jobTimeout := s.timeout + jobMargin
	rescue := cmp.Or(cfg.RescueAfter, jobTimeout+5*time.Second)
	if rescue < jobTimeout {
		return nil, fmt.Errorf("webhook: RescueAfter %v must be at least the job timeout %v", rescue, jobTimeout)
	}
	rc, err := river.NewClient(driver(cfg.DB), &river.Config{
		Queues:               map[string]river.QueueConfig{queueName: {MaxWorkers: cmp.Or(cfg.Workers, DefaultWorkers)}},
		Workers:              workers,
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: rescue,
		FetchPollInterval:    cmp.Or(cfg.PollInterval, DefaultPollInterval),
		FetchCooldown:        10 * time.Millisecond,
		Logger:               riverLogger(s.log),
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: river client: %w", err)
	}
	s.river = rc
	s.outbox = cfg.Outbox
	if s.outbox == nil {
		if s.outbox, err = NewOutbox(cfg.DB, s.now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// riverLogger keeps River's routine chatter out of the gateway's log.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{l.Handler(), slog.LevelWarn})
}

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// driver picks River's driver for the engine. Both work on the store's own
// *sql.DB, so River's InsertTx can take the store's *sql.Tx.
func driver(db storage.DB) riverdriver.Driver[*sql.Tx] {
	if db.Engine() == "sqlite" {
		return riversqlite.New(db.SQL())
	}
	return riverdatabasesql.New(db.SQL())
}

// Start begins working deliveries. It fails with ErrQueueSchemaMissing if
// River's tables have not been migrated.
func (s *Service) Start(ctx context.Context) error {
	if err := CheckSchema(ctx, s.db); err != nil {
		return err
	}
	if err := s.river.Start(ctx); err != nil {
		return fmt.Errorf("webhook: start: %w", err)
	}
	s.started = true
	return nil
}

// Stop stops fetching new deliveries and waits for those in flight until
// ctx ends. It is safe before Start and twice.
func (s *Service) Stop(ctx context.Context) error {
	if !s.started {
		return nil
	}
	err := s.river.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// Deliveries still running are lost with the process; River's rescuer
		// runs them again after RescueAfter, and receivers de-duplicate by id.
		return nil
	}
	return err
}

// ErrQueueSchemaMissing: River's tables are missing or outdated; run
// `cryptopay migrate` or `serve --migrate`.
var ErrQueueSchemaMissing = errors.New("webhook: job queue schema is missing or outdated; run `cryptopay migrate` or `serve --migrate`")

// Migrate creates or upgrades River's tables on db's engine. It is
// idempotent and runs beside the store's own migrations.
func Migrate(ctx context.Context, db storage.DB) (int, error) {
	m, err := rivermigrate.New(driver(db), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, fmt.Errorf("webhook: river migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, fmt.Errorf("webhook: river migrate: %w", err)
	}
	return len(res.Versions), nil
}

// CheckSchema returns ErrQueueSchemaMissing unless River's tables are
// current.
func CheckSchema(ctx context.Context, db storage.DB) error {
	m, err := rivermigrate.New(driver(db), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("webhook: river migrator: %w", err)
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrQueueSchemaMissing, err)
	}
	if !res.OK {
		return fmt.Errorf("%w: %v", ErrQueueSchemaMissing, res.Messages)
	}
	return nil
}
