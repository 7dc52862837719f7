// Package doctor runs the security guide's pre-production checklist
// against the gateway's actual configuration and database, and says for
// each item whether it passes, deserves a warning, or fails, and how to fix
// it.
//
// It only reads: it changes no configuration, key or row. It is not a
// vulnerability scanner: it checks the settings the guide names, not the
// host, the network or the merchant's shop.
package doctor

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Status is the outcome of one check.
type Status string

// Statuses. Only Fail makes the run fail.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is one checklist item's outcome. Fix is empty on Pass.
type Result struct {
	Name   string
	Status Status
	Detail string
	Fix    string
}

// Input is what the checks look at.
type Input struct {
	// Config is the loaded configuration.
	Config *config.Config
	// Env reads variables as the gateway does (environment over the
	// config file); it sees the variables of other components too.
	Env func(string) string
	// Getenv reads the process environment alone: HOME, and whether a
	// variable came from the environment rather than the file.
	Getenv func(string) string
	// DB is the opened database; nil skips the checks that need it.
	DB storage.DB
	// Handler is the API handler serve would run; nil skips the header
	// check.
	Handler http.Handler
	// EVM checks the configured EVM node (reachable, chain id, token
	// registry) and describes it; nil skips that check.
	EVM func(ctx context.Context) (string, error)
	// EVMSweep reads the forwarder factory's code and the gas key's
	// balance from each EVM network's node; nil skips that check.
	EVMSweep func(ctx context.Context) ([]EVMSweepFacts, error)
	// Now is the time keys are aged against (default time.Now()).
	Now time.Time
	// Rates returns the exchange rates as they stand (after a refresh of
	// live providers) and false when none are configured; nil skips the
	// rates check.
	Rates func(ctx context.Context) (rates.Status, bool)
	// Node checks the configured chain node (node.go); nil means none is
	// configured.
	Node NodeCheck
}

// Check is one checklist item.
type Check struct {
	Name string
	Run  func(ctx context.Context, in *Input) Result
}

// Checks returns the checklist in the order it is printed.
func Checks() []Check {
	return []Check{
		{"API keys only in the environment", checkKeysNotInFiles},
		{"HTTPS enforced", checkHTTPS},
		{"Trusted proxies are private", checkTrustedProxies},
		{"Webhook endpoints use https://", checkWebhookURLs},
		{"Rate limits on", checkRateLimits},
		{"Security headers on", checkHeaders},
		{"Database connection encrypted", checkDatabaseTLS},
		{"Encryption key set", checkEncryptionKey},
		{"Backups configured", checkBackups},
		{"Alerting configured", checkAlerting},
		{"API keys younger than 90 days", checkKeyAge},
		{"API keys hold only the scopes they use", checkKeyScopes},
		{"Audit log intact and checkpointed", checkAuditLog},
		{"Confirmation policies within the reorg limit", checkConfirmationPolicies},
		{"Exchange rates healthy for live stores", checkExchangeRates},
		{"Bitcoin node watches the stores, synced", checkNode},
		{"No incident in progress", checkIncident},
		{"Emergency contacts reachable", checkEmergencyContacts},
		{"EVM node and token registry", checkEVM},
		{"EVM forwarder factory deployed, gas key funded", checkEVMSweep},
	}
}

// Run runs every check. A check that panics is reported as a failure of
// that check rather than ending the run.
func Run(ctx context.Context, in *Input) []Result {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	var out []Result
	for _, c := range Checks() {
		out = append(out, runOne(ctx, in, c))
	}
	return out
}

func runOne(ctx context.Context, in *Input, c Check) (r Result) {
	defer func() {
		if v := recover(); v != nil {
			r = Result{Status: Fail, Detail: fmt.Sprintf("the check crashed: %v", v), Fix: "report this as a bug"}
		}
		r.Name = c.Name
	}()
	return c.Run(ctx, in)
}

// Failed reports whether any result is a failure.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Write prints one line per result, with its detail and fix indented
// under it, and a summary line.
func Write(w io.Writer, rs []Result) {
	n := map[Status]int{}
	for _, r := range rs {
		n[r.Status]++
		fmt.Fprintf(w, "%-4s  %s", strings.ToUpper(string(r.Status)), r.Name)
		if r.Detail != "" {
			fmt.Fprintf(w, ": %s", r.Detail)
		}
		fmt.Fprintln(w)
		if r.Fix != "" && r.Status != Pass {
			fmt.Fprintf(w, "      fix: %s\n", r.Fix)
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed, %d skipped\n", n[Pass], n[Warn], n[Fail], n[Skip])
}

func pass(detail string) Result      { return Result{Status: Pass, Detail: detail} }
func warn(detail, fix string) Result { return Result{Status: Warn, Detail: detail, Fix: fix} }
func fail(detail, fix string) Result { return Result{Status: Fail, Detail: detail, Fix: fix} }
func skip(detail string) Result      { return Result{Status: Skip, Detail: detail} }

// list joins at most five items, then says how many more there are.
func list(items []string) string {
	if len(items) <= 5 {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:5], ", ") + fmt.Sprintf(" and %d more", len(items)-5)
}

func or(s, def string) string { return cmp.Or(s, def) }
