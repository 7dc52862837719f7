package doctor

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// keyPattern matches an API key secret as the gateway issues them.
var keyPattern = regexp.MustCompile(`cp_(live|test)_[A-Za-z0-9]{16,}`)

// checkKeysNotInFiles looks for key secrets in the config file and the
// shell histories of $HOME. A key found there has leaked to disk: it must
// be rotated, not only deleted from the file.
func checkKeysNotInFiles(_ context.Context, in *Input) Result {
	var files []string
	if f := in.Getenv("CRYPTOPAY_CONFIG_FILE"); f != "" {
		files = append(files, f)
	}
	if home := in.Getenv("HOME"); home != "" {
		files = append(files, filepath.Join(home, ".bash_history"), filepath.Join(home, ".zsh_history"))
	}
	var found []string
	for _, f := range files {
		n, err := countKeys(f)
		if err != nil {
			continue // an absent history is the good case
		}
		if n > 0 {
			found = append(found, fmt.Sprintf("%s (%d)", f, n))
		}
	}
	if len(found) > 0 {
		return fail("API key secrets found in "+list(found),
			"remove the lines, rotate those keys (`cryptopay keys rotate`), and pass keys to the shop only through its environment")
	}
	return pass(fmt.Sprintf("no key secrets in %d file(s) scanned", len(files)))
}

func countKeys(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n += len(keyPattern.FindAllIndex(sc.Bytes(), -1))
	}
	return n, sc.Err()
}

// checkHTTPS: TLS built in, or a declared proxy terminating it. Plain
// HTTP is a warning while every store is in test mode and a failure once
// one is live (serve refuses to start then).
func checkHTTPS(ctx context.Context, in *Input) Result {
	c := in.Config
	switch {
	case len(c.ACMEDomains) > 0:
		return pass("automatic certificates for " + strings.Join(c.ACMEDomains, ", "))
	case c.TLSCertFile != "":
		if _, err := os.Stat(c.TLSCertFile); err != nil {
			return fail("CRYPTOPAY_TLS_CERT_FILE is unreadable: "+err.Error(), "point it at the PEM certificate chain")
		}
		return pass("TLS from certificate files")
	case len(c.TrustedProxies) > 0 && len(c.UnsafeTrustedProxies()) > 0 && !c.TrustedProxiesForce:
		return fail("CRYPTOPAY_TRUSTED_PROXIES includes public addresses, so any client can claim HTTPS with X-Forwarded-Proto",
			"name only the proxies' own private addresses in CRYPTOPAY_TRUSTED_PROXIES")
	case len(c.TrustedProxies) > 0:
		return pass("TLS terminated by the trusted proxies in CRYPTOPAY_TRUSTED_PROXIES")
	}
	fix := "set CRYPTOPAY_ACME_DOMAINS (automatic certificates) or CRYPTOPAY_TLS_CERT_FILE/KEY_FILE, or CRYPTOPAY_TRUSTED_PROXIES behind a TLS proxy"
	if live, err := liveStores(ctx, in); err == nil && live {
		return fail("the API is served over plain HTTP and a live store exists", fix)
	}
	return warn("the API is served over plain HTTP (acceptable only for test mode on a private network)", fix)
}

// checkTrustedProxies: a trusted proxy's X-Forwarded-For decides the
// client address (IP allowlists, per-address limits, the audit log), so
// only the operator's own private proxies may be trusted. Public or
// over-broad ranges fail, or warn when forced.
func checkTrustedProxies(_ context.Context, in *Input) Result {
	c := in.Config
	if len(c.TrustedProxies) == 0 {
		return pass("no proxy trusted: client addresses are the TCP peers")
	}
	unsafe := c.UnsafeTrustedProxies()
	switch {
	case len(unsafe) > 0 && !c.TrustedProxiesForce:
		return fail("CRYPTOPAY_TRUSTED_PROXIES: "+strings.Join(unsafe, "; ")+"; any client there can forge its address and pass IP allowlists (serve refuses this in live mode)",
			"name only the proxies' own private addresses (e.g. 10.0.0.5/32), or set CRYPTOPAY_TRUSTED_PROXIES_FORCE=true for public ranges you have checked")
	case len(unsafe) > 0:
		return warn("CRYPTOPAY_TRUSTED_PROXIES_FORCE accepts "+strings.Join(unsafe, "; "),
			"keep the list to the proxy provider's published ranges and review it when they change")
	}
	return pass(fmt.Sprintf("%d private proxy range(s) trusted", len(c.TrustedProxies)))
}

func liveStores(ctx context.Context, in *Input) (bool, error) {
	if in.DB == nil {
		return false, fmt.Errorf("no database")
	}
	stores, err := in.DB.ListStores(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(stores, func(s cryptopay.Store) bool { return s.Livemode }), nil
}

// checkWebhookURLs reads webhook endpoints when the table exists (the
// webhook migration may not be applied yet).
func checkWebhookURLs(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'webhook_endpoints'`
	if in.DB.Engine() == "postgres" {
		exists = `SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'webhook_endpoints' AND schemaname = ANY (current_schemas(false))`
	}
	var n int
	if err := in.DB.SQL().QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return fail("could not inspect the schema: "+err.Error(), "check the database connection")
	}
	if n == 0 {
		return skip("this database has no webhook endpoints table yet")
	}
	rows, err := in.DB.SQL().QueryContext(ctx, `SELECT id, url, livemode FROM webhook_endpoints WHERE enabled <> 0`)
	if in.DB.Engine() == "postgres" {
		rows, err = in.DB.SQL().QueryContext(ctx, `SELECT id, url, livemode::int FROM webhook_endpoints WHERE enabled`)
	}
	if err != nil {
		return fail("could not read webhook endpoints: "+err.Error(), "check the database connection")
	}
	defer rows.Close()
	var live, test []string
	total := 0
	for rows.Next() {
		var id, raw string
		var lm int
		if err := rows.Scan(&id, &raw, &lm); err != nil {
			return fail("could not read webhook endpoints: "+err.Error(), "check the database connection")
		}
		total++
		if u, err := url.Parse(raw); err == nil && u.Scheme == "https" {
			continue
		}
		if lm != 0 {
			live = append(live, id)
		} else {
			test = append(test, id)
		}
	}
	if err := rows.Err(); err != nil {
		return fail("could not read webhook endpoints: "+err.Error(), "check the database connection")
	}
	fix := "give each endpoint an https:// URL (update it, or delete it and create a new one)"
	switch {
	case len(live) > 0:
		return fail("live endpoints without https://: "+list(live), fix)
	case len(test) > 0:
		return warn("test endpoints without https://: "+list(test), fix)
	}
	return pass(fmt.Sprintf("%d enabled endpoint(s), all https://", total))
}

// checkRateLimits: every bucket on; shared across instances with Redis.
func checkRateLimits(_ context.Context, in *Input) Result {
	c := in.Config
	var off []string
	for name, r := range map[string]bool{
		"CRYPTOPAY_RATE_LIMIT_KEY": c.RateLimitKey.Off(), "CRYPTOPAY_RATE_LIMIT_IP": c.RateLimitIP.Off(),
		"CRYPTOPAY_RATE_LIMIT_AUTH_FAIL": c.RateLimitAuthFail.Off(),
	} {
		if r {
			off = append(off, name)
		}
	}
	slices.Sort(off)
	if len(off) > 0 {
		return fail("turned off: "+strings.Join(off, ", "), "unset them (the defaults are on) or give a rate such as 25/s burst 50")
	}
	detail := fmt.Sprintf("per key %s, per address %s, failed auth %s", c.RateLimitKey, c.RateLimitIP, c.RateLimitAuthFail)
	if c.RedisURL == "" {
		return pass(detail + "; per instance (set CRYPTOPAY_REDIS_URL to share them across instances)")
	}
	return pass(detail + "; shared through Redis")
}

// requiredHeaders are the guide's response headers.
var requiredHeaders = map[string]string{
	"X-Frame-Options":           "SAMEORIGIN",
	"X-Content-Type-Options":    "nosniff",
	"X-XSS-Protection":          "1; mode=block",
	"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	"Content-Security-Policy":   "default-src 'self'",
	"Cache-Control":             "no-store",
}

// checkHeaders sends one request through the real handler, as if over
// TLS, and compares the headers.
func checkHeaders(_ context.Context, in *Input) Result {
	if in.Handler == nil {
		return skip("no handler to probe")
	}
	req := httptest.NewRequest(http.MethodGet, "https://gateway.invalid/healthz", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	in.Handler.ServeHTTP(rec, req)
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(requiredHeaders)) {
		if got := rec.Header().Get(k); got != requiredHeaders[k] {
			bad = append(bad, fmt.Sprintf("%s is %q", k, got))
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "), "this build does not set the guide's headers; upgrade or report a bug")
	}
	return pass("the guide's headers are on every response (HSTS over TLS)")
}

// checkDatabaseTLS: SQLite is a local file; PostgreSQL over the network
// must verify the server's certificate and name (sslmode=verify-full).
func checkDatabaseTLS(_ context.Context, in *Input) Result {
	c := in.Config
	if !c.IsPostgres() {
		return pass("embedded SQLite: no network connection")
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return fail("CRYPTOPAY_DATABASE_URL does not parse", "fix the URL")
	}
	host := u.Hostname()
	mode := or(u.Query().Get("sslmode"), "prefer")
	if local(host) {
		return pass(fmt.Sprintf("PostgreSQL on this host (%s), sslmode=%s", or(host, "unix socket"), mode))
	}
	fix := "add sslmode=verify-full (and sslrootcert= if the server's CA is not in the system store) to CRYPTOPAY_DATABASE_URL"
	switch mode {
	case "verify-full":
		return pass("PostgreSQL at " + host + " with sslmode=verify-full")
	case "verify-ca", "require":
		return warn("PostgreSQL at "+host+" with sslmode="+mode+": encrypted, but the server's name is not verified", fix)
	}
	return fail("PostgreSQL at "+host+" with sslmode="+mode+": the connection may be unencrypted", fix)
}

func local(host string) bool {
	if host == "" || host == "localhost" || strings.HasPrefix(host, "/") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkEncryptionKey: the field-encryption key is set, from the
// environment or a private file.
func checkEncryptionKey(_ context.Context, in *Input) Result {
	fix := "set CRYPTOPAY_ENCRYPTION_KEY_FILE to a file readable only by the gateway's user (or CRYPTOPAY_ENCRYPTION_KEY in its environment)"
	if f := in.Env("CRYPTOPAY_ENCRYPTION_KEY_FILE"); f != "" {
		st, err := os.Stat(f)
		switch {
		case err != nil:
			return fail("CRYPTOPAY_ENCRYPTION_KEY_FILE is unreadable: "+err.Error(), fix)
		case st.Mode().Perm()&0o077 != 0:
			return warn(fmt.Sprintf("CRYPTOPAY_ENCRYPTION_KEY_FILE is readable by other users (mode %v)", st.Mode().Perm()), "chmod 600 "+f)
		}
		return pass("key from a private file")
	}
	if in.Env("CRYPTOPAY_ENCRYPTION_KEY") != "" {
		if in.Getenv("CRYPTOPAY_ENCRYPTION_KEY") == "" {
			return warn("CRYPTOPAY_ENCRYPTION_KEY is written in the config file", fix)
		}
		return pass("key from the environment")
	}
	return fail("no encryption key: sensitive fields are stored in plain text", fix)
}

// checkBackups: a backup directory and a way to encrypt backups (an age
// recipient, or a passphrase).
func checkBackups(_ context.Context, in *Input) Result {
	dir := or(in.Env("CRYPTOPAY_BACKUP_DIR"), filepath.Join(in.Config.DataDir, "backups"))
	rcpt, pass_ := in.Env("CRYPTOPAY_BACKUP_RECIPIENT"), in.Env("CRYPTOPAY_BACKUP_PASSPHRASE")
	fix := "set CRYPTOPAY_BACKUP_RECIPIENT (an age public key; keep the identity off this host) and CRYPTOPAY_BACKUP_DIR (an existing directory, ideally another disk), and run `cryptopay backup` on a schedule"
	if rcpt == "" && pass_ == "" {
		return fail("backups are not configured: no CRYPTOPAY_BACKUP_RECIPIENT or CRYPTOPAY_BACKUP_PASSPHRASE", fix)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fail("the backup directory does not exist: "+dir, fix)
	}
	if rcpt == "" {
		return warn("backups are encrypted with a passphrase", fix)
	}
	if !strings.HasPrefix(rcpt, "age1") {
		return warn("CRYPTOPAY_BACKUP_RECIPIENT does not look like an age public key (age1…)", fix)
	}
	return pass("encrypted backups to " + dir)
}

// checkAlerting: alerts leave the log for a human's channel.
func checkAlerting(_ context.Context, in *Input) Result {
	if in.Config.AlertWebhookURL == "" {
		return fail("alerts (deep reorgs, reorged settlements, high-value payments) only reach the log",
			"set CRYPTOPAY_ALERT_WEBHOOK_URL to a Slack-compatible incoming webhook")
	}
	u, err := url.Parse(in.Config.AlertWebhookURL)
	if err != nil || u.Scheme != "https" {
		return warn("CRYPTOPAY_ALERT_WEBHOOK_URL is not https://", "use the receiver's https:// URL")
	}
	return pass("alerts are posted to " + u.Hostname())
}

// activeKeys returns every usable key of every store.
func activeKeys(ctx context.Context, in *Input) ([]cryptopay.APIKey, error) {
	stores, err := in.DB.ListStores(ctx)
	if err != nil {
		return nil, err
	}
	var out []cryptopay.APIKey
	for _, s := range stores {
		keys, err := in.DB.ListAPIKeys(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if (k.RevokedAt == nil || k.RevokedAt.After(in.Now)) && k.ExpiresAt.After(in.Now) {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

const keyMaxAge = 90 * 24 * time.Hour

// checkKeyAge: the guide rotates keys every 90 days.
func checkKeyAge(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	keys, err := activeKeys(ctx, in)
	if err != nil {
		return fail("could not list keys: "+err.Error(), "check the database connection")
	}
	var old []string
	for _, k := range keys {
		if in.Now.Sub(k.CreatedAt) > keyMaxAge {
			old = append(old, fmt.Sprintf("%s (%d days)", k.ID, int(in.Now.Sub(k.CreatedAt)/(24*time.Hour))))
		}
	}
	if len(old) > 0 {
		return fail("keys older than 90 days: "+list(old), "rotate them: `cryptopay keys rotate <id>` (the old key keeps working for the overlap window)")
	}
	return pass(fmt.Sprintf("%d active key(s), none older than 90 days", len(keys)))
}

const usageWindow = 30 * 24 * time.Hour

// checkKeyScopes: least privilege. Every authorised request records the
// scope it needed (throttled, see gateway.NoteScopeUse), so the check names,
// for each active key old enough to judge, the scopes it holds but has not
// used in 30 days.
func checkKeyScopes(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	keys, err := activeKeys(ctx, in)
	if err != nil {
		return fail("could not list keys: "+err.Error(), "check the database connection")
	}
	since := in.Now.Add(-usageWindow)
	var over, unknown []string
	judged := 0
	for _, k := range keys {
		if in.Now.Sub(k.CreatedAt) < usageWindow {
			continue // too young to judge
		}
		uses, err := in.DB.ListKeyScopeUse(ctx, k.ID)
		if err != nil {
			return fail("could not read key usage: "+err.Error(), "check the database connection; run `cryptopay migrate` if the schema is old")
		}
		if len(uses) == 0 && k.LastUsedAt != nil && !k.LastUsedAt.Before(since) {
			// Used recently, but before this version recorded scopes: no
			// verdict yet rather than a false "unused".
			unknown = append(unknown, k.ID)
			continue
		}
		judged++
		unused, err := gateway.UnusedScopes(ctx, in.DB, &k, since)
		if err != nil {
			return fail("could not read key usage: "+err.Error(), "check the database connection")
		}
		if len(unused) > 0 {
			names := make([]string, len(unused))
			for i, s := range unused {
				names[i] = string(s)
			}
			over = append(over, fmt.Sprintf("%s (unused: %s)", k.ID, strings.Join(names, " ")))
		}
	}
	if len(over) > 0 {
		return warn("keys hold scopes they have not used in 30 days: "+list(over),
			"replace each with a key holding only the scopes it uses: `cryptopay keys create --store <store id> --scopes <used scopes, comma-separated>` (add --live for a live key), "+
				"move the shop to the new secret, then `cryptopay keys revoke <old id>` (a key that uses none of its scopes can simply be revoked)")
	}
	detail := fmt.Sprintf("%d key(s) older than 30 days use every scope they hold", judged)
	if len(unknown) > 0 {
		detail += fmt.Sprintf("; %d recently used key(s) have no per-scope record yet (%s): run doctor again after 30 days", len(unknown), list(unknown))
	}
	return pass(detail)
}

// checkConfirmationPolicies: no store may require more confirmations than
// the watcher follows reorgs for (CRYPTOPAY_BITCOIN_REORG_LIMIT): the
// tracker lets a payment go at that depth, so its invoices would never
// settle. serve refuses to start then.
func checkConfirmationPolicies(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	stores, err := in.DB.ListStores(ctx)
	if err != nil {
		return fail("cannot list stores: "+err.Error(), "check CRYPTOPAY_DATABASE_URL")
	}
	limit := in.Config.Bitcoin.SafetyLimit
	var bad []string
	for _, st := range stores {
		if st.Confirmations.CheckReorgLimit(limit) != nil {
			bad = append(bad, fmt.Sprintf("%s (%d)", st.ID, st.Confirmations.Highest()))
		}
	}
	if len(bad) > 0 {
		return fail(fmt.Sprintf("stores requiring more confirmations than the reorg limit %d: %s", limit, list(bad)),
			"lower those stores' highest confirmation tier, or raise CRYPTOPAY_BITCOIN_REORG_LIMIT")
	}
	return pass(fmt.Sprintf("%d store(s), every policy at most %d confirmations", len(stores), limit))
}
