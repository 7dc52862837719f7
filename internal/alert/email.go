package alert

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// EmailConfig configures the email sink: the emergency contacts and the
// SMTP server their mail goes through.
type EmailConfig struct {
	Addr     string // host:port
	Username string // with Password: PLAIN authentication (only over TLS)
	Password string
	From     string
	To       []string
	// TLS is "starttls" (mandatory STARTTLS), "tls" (implicit TLS) or
	// "none" (plain SMTP; the configuration allows it only to loopback).
	TLS     string
	Timeout time.Duration // default 10s
	// MinSeverity is the least severe alert mailed (default Critical:
	// incidents and critical alerts page people; warnings do not).
	MinSeverity Severity
}

// Email is a sink that mails alerts to the emergency contacts.
type Email struct {
	cfg  EmailConfig
	host string
	port int
}

// NewEmail checks cfg and returns the sink. It connects to nothing yet.
func NewEmail(cfg EmailConfig) (*Email, error) {
	host, p, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("alert: email: SMTP address %q: want host:port", cfg.Addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("alert: email: SMTP port %q", p)
	}
	if len(cfg.To) == 0 {
		return nil, fmt.Errorf("alert: email: no recipients (CRYPTOPAY_EMERGENCY_CONTACTS)")
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	cfg.MinSeverity = cmp.Or(cfg.MinSeverity, Critical)
	return &Email{cfg: cfg, host: host, port: port}, nil
}

// Name names the sink in logs.
func (e *Email) Name() string { return "email" }

// Wants reports whether al is severe enough to mail.
func (e *Email) Wants(al Alert) bool { return rank(al.Severity) >= rank(e.cfg.MinSeverity) }

func rank(s Severity) int {
	switch s {
	case Critical:
		return 2
	case Warning, "":
		return 1
	}
	return 0
}

// Send mails al to every contact in one message.
func (e *Email) Send(ctx context.Context, al Alert) error {
	m := mail.NewMsg()
	if err := m.From(e.cfg.From); err != nil {
		return fmt.Errorf("alert: email: from: %w", err)
	}
	if err := m.To(e.cfg.To...); err != nil {
		return fmt.Errorf("alert: email: to: %w", err)
	}
	m.Subject(fmt.Sprintf("[%s] CryptoPay: %s", strings.ToUpper(string(cmp.Or(al.Severity, Warning))), al.Title))
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(mail.TypeTextPlain, Format(al))
	opts := []mail.Option{mail.WithPort(e.port), mail.WithTimeout(e.cfg.Timeout)}
	switch e.cfg.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if e.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(e.cfg.Username), mail.WithPassword(e.cfg.Password))
	}
	c, err := mail.NewClient(e.host, opts...)
	if err != nil {
		return fmt.Errorf("alert: email: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("alert: email to %s: %w", e.cfg.Addr, err)
	}
	return nil
}
