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
	"runtime/debug"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/alert"
	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/metrics"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/shred"
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
		{"addresses", "list, block and unblock sending addresses, release held payments (failed-payment monitoring)", runAddresses},
		{"rates", "show exchange rates: each provider's price, age and health, and the median invoices use", runRates},
		{"users", "create and manage dashboard users (password, TOTP second factor, store roles)", runUsers},
		{"compliance", "show and set a store's transaction limits and retention policy", runCompliance},
		{"reviews", "list and resolve review items opened by monitoring alerts", runReviews},
		{"reports", "export suspicious activity (sar) and every payment with its rate and fiat value (transactions)", runReports},
		{"customers", "export everything held about a customer_reference, or erase it by crypto-shredding", runCustomers},
		{"incident", "incident response: freeze|unfreeze, revoke-keys, rotate-webhook-secrets, status", runIncident},
		{"retention", "run the retention job now (redacts personal fields past each store's retention)", runRetentionCmd},
		{"dev", "run a local sandbox: gateway, regtest node, funded dev wallet (dev pay|mine|reorg drive it)", runDev},
		{"eth", "EVM operator tasks: sweep paid deposit addresses to the stores' receiving addresses", runEth},
		{"listen", "forward a gateway's signed test webhooks to the shop's local code (--forward-to URL)", runListen},
		{"trigger", "make the sandbox emit a real event (trigger invoice.settled) with its chain", runTrigger},
		{"events", "resend an event to the store's webhook endpoints (events resend EVENT_ID)", runEvents},
		{"version", "print the version", runVersion},
		{"chain", "show, rescan from a height or reset the chain watcher's position (after a too-deep reorg or a node change)", runChain},
	}
}

// Version is the gateway's version, set at build time with -ldflags.
var Version = "dev"

// version is Version when the build stamped one, else the module version
// `go install …@vX.Y.Z` records in the binary, else "dev".
func version() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

// usageError is a mistake in the command line; it prints usage and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run runs the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 2 && isHelp(args[0]) && !isHelp(args[1]) {
		// `cryptopay help stores` is `cryptopay stores --help`.
		args = []string{args[1], "--help"}
	}
	if len(args) == 0 || isHelp(args[0]) {
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

func runVersion(_ context.Context, env Env, args []string) error {
	fs := flags(env, "version")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: cryptopay version  (prints the version stamped at build time)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "cryptopay", version())
	return nil
}

// flags returns a FlagSet whose errors come back as usage errors. Its
// output is where help goes when asked for (standard output: help is the
// answer, not an error); parse keeps the flag package from printing
// errors itself, so Run prints each error once.
func flags(env Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cryptopay "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stdout)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := parseQuiet(fs, args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// parseQuiet parses args into fs without letting the flag package print:
// on -h/--help it prints fs's usage to fs's output once; on an error it
// prints nothing and returns an error that names the help to read.
func parseQuiet(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return fmt.Errorf("%w (see `%s --help`)", err, fs.Name())
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
	// rates prices fiat invoices; live is the aggregator behind it when
	// rates are live (refreshed by serve), nil with the static table.
	rates cryptopay.RateSource
	live  *rates.Aggregator
	// getenv is the environment the app was opened with (the dashboard's
	// doctor page reads configuration as the doctor command does).
	getenv func(string) string
	// metrics and node are serve's (serve_metrics.go, node.go); nil
	// elsewhere, which records nothing.
	metrics *metrics.Metrics
	node    *nodeMonitor
	vault   *shred.Vault // the subject key vault, nil when off (compliance.go)
}

// open loads configuration and opens the database, which must exist
// (see requireDatabase). With checkSchema the schema must be current.
func open(ctx context.Context, env Env, checkSchema bool) (*app, error) {
	return openApp(ctx, env, checkSchema, false)
}

// openCreating is open for the commands that may create the database:
// migrate, `serve --migrate` and the sandbox.
func openCreating(ctx context.Context, env Env) (*app, error) {
	return openApp(ctx, env, false, true)
}

func openApp(ctx context.Context, env Env, checkSchema, create bool) (*app, error) {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return nil, err
	}
	if !create {
		if err := requireDatabase(cfg); err != nil {
			return nil, err
		}
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
	a := &app{cfg: cfg, log: log, db: db, getenv: env.Getenv}
	rs, live, err := rateSource(cfg, db, log, a.alert)
	if err != nil {
		db.Close()
		return nil, err
	}
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	evm, err := evmDeposits(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	svc := gateway.New(gateway.Config{DB: db, Outbox: ob, Rates: rs, Logger: log, ReorgLimit: cfg.Bitcoin.SafetyLimit, EVM: evm})
	a.outbox, a.svc, a.rates, a.live = ob, svc, rs, live
	if err := a.useKeyring(); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.useCompliance(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) Close() error {
	if a.vault != nil {
		return errors.Join(a.vault.Close(), a.db.Close())
	}
	return a.db.Close()
}

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
	a, err := openCreating(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	{
		n, err := a.db.Migrate(ctx)
		if err != nil {
			return err
		}
		cur, _, _ := a.db.SchemaVersion(ctx)
		fmt.Fprintf(env.Stdout, "applied %d migration(s); schema version %d (%s)\n", n, cur, a.db.Engine())
		return nil
	}
}
