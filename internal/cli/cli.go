// Package cli is the cryptopay command line: it parses subcommands and
// flags, loads configuration, opens the database and wires the gateway's
// parts together. It is the only package that knows every adapter.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/alert"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// Env is the process environment a command runs in; tests pass their own.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway: HTTP API, chain watchers, webhook delivery", runServe},
		{"migrate", "apply pending database migrations", runMigrate},
		{"stores", "create, list and show stores (merchants)", runStores},
		{"keys", "create, list, rotate and revoke API keys", runKeys},
		{"invoices", "list and show invoices", runInvoices},
		{"webhooks", "manage webhook endpoints, inspect deliveries, redeliver and send test events", runWebhooks},
		{"doctor", "run the pre-production security checklist against this configuration", runDoctor},
		{"encryption", "generate encryption keys and re-seal stored data under a new key", runEncryption},
		{"backup", "write an encrypted, consistent backup of the SQLite database", runBackup},
		{"restore", "restore an encrypted backup into a new database file", runRestore},
		{"audit", "verify and list the tamper-evident audit log", runAudit},
		{"addresses", "list, block and unblock sending addresses (failed-payment monitoring)", runAddresses},
		{"dev", "run a local sandbox: gateway, regtest node, funded dev wallet (dev pay|mine|reorg drive it)", runDev},
		{"version", "print the version", runVersion},
	}
}

// Version is the gateway's version, set at build time with -ldflags.
var Version = "dev"

// usageError is a mistake in the command line; it prints usage and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run runs the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(gateway.WithActor(ctx, gateway.Actor{Operator: gateway.OperatorActor}), env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		fmt.Fprintf(env.Stderr, "cryptopay %s: %s\n", c.name, describe(err))
		if _, ok := errors.AsType[usageError](err); ok {
			return 2
		}
		return 1
	}
	fmt.Fprintf(env.Stderr, "cryptopay: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return 2
}

// describe renders an error for an operator: client errors by their
// message and field, anything else in full (the operator may see internals).
func describe(err error) string {
	if errors.Is(err, storage.ErrUnavailable) {
		return err.Error() // the operator needs the driver's reason and the address
	}
	if e, ok := errors.AsType[*cryptopay.Error](err); ok {
		if e.Param != "" {
			return fmt.Sprintf("%s (%s)", e.Message, e.Param)
		}
		return e.Message
	}
	return err.Error()
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cryptopay <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from the environment:")
	for _, v := range config.Vars {
		fmt.Fprintf(w, "  %-30s %s\n", v.Name, v.Help)
	}
}

func runVersion(_ context.Context, env Env, _ []string) error {
	fmt.Fprintln(env.Stdout, "cryptopay", Version)
	return nil
}

// flags returns a FlagSet whose errors come back as usage errors.
func flags(env Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cryptopay "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// app is an opened configuration, database and service.
type app struct {
	cfg *config.Config
	log *slog.Logger
	db  storage.DB
	// outbox writes every event of this process and queues its webhook
	// deliveries in the event's transaction: the gateway service, the
	// watcher and the webhook service all get this one, so a command that
	// writes an event queues its deliveries even though it sends nothing.
	outbox *webhook.Outbox
	svc    *gateway.Service
	// alerter reaches the operator (CRYPTOPAY_ALERT_WEBHOOK_URL); set by
	// serve once the edge is open, nil elsewhere (alerts are then logged).
	alerter *alert.Alerter
}

// open loads configuration and opens the database. With checkSchema the
// schema must be current.
func open(ctx context.Context, env Env, checkSchema bool) (*app, error) {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return nil, err
	}
	logOut := os.Stderr
	if f, ok := env.Stderr.(*os.File); ok {
		logOut = f
	}
	log := cfg.Logger(logOut)
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if checkSchema {
		if err := db.CheckSchema(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	rs, err := rates.ParseStatic(cfg.Rates)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("CRYPTOPAY_RATES: %w", err)
	}
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	evm, err := evmDeposits(cfg.EVM)
	if err != nil {
		db.Close()
		return nil, err
	}
	svc := gateway.New(gateway.Config{DB: db, Outbox: ob, Rates: rs, Logger: log, ReorgLimit: cfg.Bitcoin.SafetyLimit, EVM: evm})
	a := &app{cfg: cfg, log: log, db: db, outbox: ob, svc: svc}
	if err := a.useKeyring(); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) Close() error { return a.db.Close() }

// publicURL is the base customers reach the gateway at: the configured
// CRYPTOPAY_PUBLIC_URL, else the listen address.
func (a *app) publicURL() string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	scheme := "http://"
	if a.cfg.ServesTLS() {
		scheme = "https://"
	}
	return scheme + a.cfg.Listen
}

func openDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (storage.DB, error) {
	if cfg.IsPostgres() {
		return postgres.Open(ctx, cfg.DatabaseURL, log)
	}
	if strings.Contains(cfg.DatabaseURL, "://") {
		return nil, fmt.Errorf("CRYPTOPAY_DATABASE_URL: want a SQLite file path or a postgres:// URL")
	}
	return sqlite.Open(ctx, cfg.DatabaseURL, log)
}

func runMigrate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "migrate")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, false, func(a *app) error {
		n, err := a.db.Migrate(ctx)
		if err != nil {
			return err
		}
		if err := a.migrateQueue(ctx); err != nil {
			return err
		}
		cur, _, _ := a.db.SchemaVersion(ctx)
		fmt.Fprintf(env.Stdout, "applied %d migration(s); schema version %d (%s)\n", n, cur, a.db.Engine())
		return nil
	})
}
