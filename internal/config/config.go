// Package config reads the gateway's configuration from CRYPTOPAY_*
// environment variables, optionally backed by a file of the same KEY=VALUE
// lines (CRYPTOPAY_CONFIG_FILE). The environment wins over the file.
// Secrets come only from here, never from command-line flags.
package config

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the gateway's configuration.
type Config struct {
	Listen      string
	DataDir     string
	DatabaseURL string
	Rates       string
	LogLevel    slog.Level
	LogFormat   string // "text" or "json"

	ShutdownTimeout time.Duration
}

// Var documents one environment variable; the README's table is kept in
// step with this list by a test.
type Var struct {
	Name, Default, Help string
}

// Vars lists every variable the gateway reads.
var Vars = []Var{
	{"CRYPTOPAY_CONFIG_FILE", "", "Optional file of KEY=VALUE lines setting any of these variables; the environment wins."},
	{"CRYPTOPAY_LISTEN", "127.0.0.1:8080", "Address the HTTP API listens on."},
	{"CRYPTOPAY_DATA_DIR", "./cryptopay-data", "Directory for the embedded SQLite database and other local state."},
	{"CRYPTOPAY_DATABASE_URL", "<data dir>/cryptopay.db", "A SQLite file path, or a postgres:// URL for PostgreSQL."},
	{"CRYPTOPAY_RATES", "", "Static exchange rates for fiat invoices, e.g. BTC_USD=65000.00,BTC_EUR=60000.00."},
	{"CRYPTOPAY_LOG_LEVEL", "info", "debug, info, warn or error."},
	{"CRYPTOPAY_LOG_FORMAT", "text", "text or json."},
	{"CRYPTOPAY_SHUTDOWN_TIMEOUT", "15s", "How long serve waits for requests in flight when stopping."},
}

// Load reads the configuration from getenv (os.Getenv in production).
func Load(getenv func(string) string) (*Config, error) {
	env, err := withFile(getenv)
	if err != nil {
		return nil, err
	}
	c := &Config{
		Listen:    or(env("CRYPTOPAY_LISTEN"), "127.0.0.1:8080"),
		DataDir:   or(env("CRYPTOPAY_DATA_DIR"), "./cryptopay-data"),
		Rates:     env("CRYPTOPAY_RATES"),
		LogFormat: or(env("CRYPTOPAY_LOG_FORMAT"), "text"),
	}
	c.DatabaseURL = or(env("CRYPTOPAY_DATABASE_URL"), filepath.Join(c.DataDir, "cryptopay.db"))
	if err := c.LogLevel.UnmarshalText([]byte(or(env("CRYPTOPAY_LOG_LEVEL"), "info"))); err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_LOG_LEVEL: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("CRYPTOPAY_LOG_FORMAT: want text or json, got %q", c.LogFormat)
	}
	if c.ShutdownTimeout, err = time.ParseDuration(or(env("CRYPTOPAY_SHUTDOWN_TIMEOUT"), "15s")); err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_SHUTDOWN_TIMEOUT: %w", err)
	}
	return c, nil
}

// IsPostgres reports whether the database URL names a PostgreSQL server.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// Logger returns the configured logger writing to w.
func (c *Config) Logger(w *os.File) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// withFile layers CRYPTOPAY_CONFIG_FILE under getenv.
func withFile(getenv func(string) string) (func(string) string, error) {
	path := getenv("CRYPTOPAY_CONFIG_FILE")
	if path == "" {
		return getenv, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_CONFIG_FILE: %w", err)
	}
	defer f.Close()
	file := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !strings.HasPrefix(k, "CRYPTOPAY_") {
			return nil, fmt.Errorf("%s:%d: want CRYPTOPAY_NAME=value", path, n)
		}
		file[k] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_CONFIG_FILE: %w", err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
