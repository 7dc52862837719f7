package config

import (
	"fmt"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"time"
)

// Compliance holds the compliance and incident-response settings: where
// subject keys live (crypto-shredding), who the emergency contacts are
// and how email reaches them, and how often retention runs.
type Compliance struct {
	// SubjectVault is the subject key vault: a SQLite file path or a
	// postgres:// URL; "" when disabled.
	SubjectVault string
	// EmergencyContacts receive incidents and critical alerts by email.
	EmergencyContacts []string
	SMTP              SMTP
	RetentionInterval time.Duration
}

// SMTP is the outgoing mail server of the email alert sink.
type SMTP struct {
	Addr     string // host:port; "" disables email
	Username string
	Password string
	From     string
	TLS      string // "starttls" (default), "tls" or "none" (loopback only)
}

var complianceVars = []Var{
	{"CRYPTOPAY_SUBJECT_VAULT", "<data dir>/subjects.db with SQLite; off with PostgreSQL", "The subject key vault for erasure by crypto-shredding: a SQLite file path or a postgres:// URL of a database that is NOT the gateway's (its backups must not contain the keys). off disables crypto-shredding, erasure, export and per-customer limits."},
	{"CRYPTOPAY_EMERGENCY_CONTACTS", "", "Comma-separated email addresses that receive incidents and critical alerts (with CRYPTOPAY_SMTP_ADDR)."},
	{"CRYPTOPAY_SMTP_ADDR", "", "host:port of the SMTP server email alerts are sent through; empty disables email."},
	{"CRYPTOPAY_SMTP_USERNAME", "", "SMTP user name (PLAIN authentication, only over TLS)."},
	{"CRYPTOPAY_SMTP_PASSWORD", "", "SMTP password."},
	{"CRYPTOPAY_SMTP_FROM", "cryptopay@localhost", "Sender address of email alerts."},
	{"CRYPTOPAY_SMTP_TLS", "starttls", "starttls (required), tls (implicit, port 465) or none (only to a loopback server)."},
	{"CRYPTOPAY_RETENTION_INTERVAL", "24h", "How often serve runs the retention job that redacts personal fields past each store's retention."},
}

func init() { Vars = append(Vars, complianceVars...) }

// loadCompliance reads the compliance variables; a malformed value is an
// error naming its variable.
func loadCompliance(env func(string) string, c *Config) (Compliance, error) {
	var out Compliance
	switch v := env("CRYPTOPAY_SUBJECT_VAULT"); {
	case strings.EqualFold(v, "off"):
	case v != "":
		out.SubjectVault = v
	case !c.IsPostgres():
		out.SubjectVault = filepath.Join(c.DataDir, "subjects.db")
	}
	for _, a := range strings.Split(env("CRYPTOPAY_EMERGENCY_CONTACTS"), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, err := mail.ParseAddress(a); err != nil {
			return out, fmt.Errorf("CRYPTOPAY_EMERGENCY_CONTACTS: %q is not an email address", a)
		}
		out.EmergencyContacts = append(out.EmergencyContacts, a)
	}
	out.SMTP = SMTP{Addr: env("CRYPTOPAY_SMTP_ADDR"), Username: env("CRYPTOPAY_SMTP_USERNAME"),
		Password: env("CRYPTOPAY_SMTP_PASSWORD"), From: or(env("CRYPTOPAY_SMTP_FROM"), "cryptopay@localhost"),
		TLS: or(env("CRYPTOPAY_SMTP_TLS"), "starttls")}
	if out.SMTP.Addr != "" {
		host, _, err := net.SplitHostPort(out.SMTP.Addr)
		if err != nil {
			return out, fmt.Errorf("CRYPTOPAY_SMTP_ADDR: want host:port")
		}
		switch out.SMTP.TLS {
		case "starttls", "tls":
		case "none":
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return out, fmt.Errorf("CRYPTOPAY_SMTP_TLS: none is only allowed to a loopback server; alerts carry incident details")
			}
		default:
			return out, fmt.Errorf("CRYPTOPAY_SMTP_TLS: want starttls, tls or none")
		}
		if _, err := mail.ParseAddress(out.SMTP.From); err != nil {
			return out, fmt.Errorf("CRYPTOPAY_SMTP_FROM: not an email address")
		}
	}
	out.RetentionInterval = 24 * time.Hour
	if v := env("CRYPTOPAY_RETENTION_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return out, fmt.Errorf("CRYPTOPAY_RETENTION_INTERVAL: want a duration of at least 1m, such as 24h")
		}
		out.RetentionInterval = d
	}
	return out, nil
}
