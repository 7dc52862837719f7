package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Transaction limits (the guide's Compliance section: "implement limits
// based on local requirements"). A store may cap one invoice, the invoices
// created per UTC day and per UTC calendar month, and the invoices of one
// customer_reference per UTC day, all in the store's currency. An invoice
// counts at its value when created: its price when it is priced in the
// store's currency, otherwise its crypto amount at the rate source's rate
// for the store's currency at that moment. Every invoice created counts,
// paid or not: a limit bounds what the gateway asks customers to pay.
//
// The check and the invoice's usage row are written in the invoice's
// transaction after the store's settings row is locked, so concurrent
// creations cannot together pass a limit (see LockComplianceSettings).

// Audit actions of the compliance features.
const (
	AuditComplianceUpdated = "store.compliance_updated"
	AuditReviewResolved    = "review.resolved"
	AuditRetentionRedacted = "retention.redacted"
	AuditCustomerErased    = "customer.erased"
	AuditCustomerExported  = "customer.exported"
	AuditIncidentFreeze    = "incident.freeze"
	AuditIncidentUnfreeze  = "incident.unfreeze"
	AuditIncidentRevoke    = "incident.keys_revoked"
	AuditIncidentRotate    = "incident.webhook_secrets_rotated"
)

// Default retention: financial records five years, personal data until
// the shop sets a period (or erases a customer).
const (
	DefaultFinancialRetentionDays = 5 * 365
	DefaultWarnPercent            = 80
)

// ComplianceParams set a store's limits and retention. Limits are decimal
// amounts in the store's currency; "" or "0" means no limit.
type ComplianceParams struct {
	MaxInvoice, Daily, Monthly, CustomerDaily string
	WarnPercent                               int // 1..100; 0 takes 80
	PersonalRetentionDays                     int // 0 keeps personal data until erased
	FinancialRetentionDays                    int // 0 takes 5 years
}

// Compliance returns a store's settings; a store that never set any has
// no limits and the default retention.
func (s *Service) Compliance(ctx context.Context, storeID string) (*storage.ComplianceSettings, error) {
	st, err := s.GetStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	c, err := s.db.GetComplianceSettings(ctx, st.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return &storage.ComplianceSettings{StoreID: st.ID, Currency: st.DefaultCurrency,
			WarnBasisPoints: DefaultWarnPercent * 100, FinancialRetentionDays: DefaultFinancialRetentionDays}, nil
	}
	return c, err
}

// SetCompliance validates p and replaces the store's settings, recording
// the old and new values in the audit log in the same transaction.
func (s *Service) SetCompliance(ctx context.Context, storeID string, p ComplianceParams) (*storage.ComplianceSettings, error) {
	return s.setCompliance(ctx, storeID, func(*storage.ComplianceSettings) ComplianceParams { return p })
}

// LimitsPatch changes some of a store's limits (the API's PATCH
// /v1/limits): a nil field is left as it is, "0" removes a limit. The
// store's retention is not a limit and is left as it is.
type LimitsPatch struct {
	MaxInvoice, Daily, Monthly, CustomerDaily *string
	WarnPercent                               *int
}

// Limits returns the compliance settings (limits and retention) of the
// caller's store.
func (s *Service) Limits(ctx context.Context, caller *cryptopay.APIKey) (*storage.ComplianceSettings, error) {
	return s.Compliance(ctx, caller.StoreID)
}

// UpdateLimits applies p to the caller's store's limits with an audit
// entry. The current settings are read in the writing transaction, under
// the settings row's lock, so two concurrent patches cannot undo each
// other's fields. Bad input is a CodeInvalid error naming the field and
// changes nothing.
func (s *Service) UpdateLimits(ctx context.Context, caller *cryptopay.APIKey, p LimitsPatch) (*storage.ComplianceSettings, error) {
	if p.WarnPercent != nil && *p.WarnPercent == 0 {
		return nil, cryptopay.Invalid("warn_percent", "warn_percent must be between 1 and 100.")
	}
	return s.setCompliance(ctx, caller.StoreID, func(old *storage.ComplianceSettings) ComplianceParams {
		var q ComplianceParams
		if old != nil {
			cur, _ := cryptopay.LookupCurrency(old.Currency)
			lim := func(v int64) string {
				if v == 0 {
					return ""
				}
				return cryptopay.FormatAmount(big.NewInt(v), cur.Decimals)
			}
			q = ComplianceParams{MaxInvoice: lim(old.MaxInvoice), Daily: lim(old.Daily), Monthly: lim(old.Monthly),
				CustomerDaily: lim(old.CustomerDaily), WarnPercent: old.WarnBasisPoints / 100,
				PersonalRetentionDays: old.PersonalRetentionDays, FinancialRetentionDays: old.FinancialRetentionDays}
		}
		for _, f := range []struct{ v, dst *string }{{p.MaxInvoice, &q.MaxInvoice}, {p.Daily, &q.Daily},
			{p.Monthly, &q.Monthly}, {p.CustomerDaily, &q.CustomerDaily}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		if p.WarnPercent != nil {
			q.WarnPercent = *p.WarnPercent
		}
		return q
	})
}

// setCompliance replaces the store's settings with what merge makes of
// the current ones (nil: none yet), validated, in one transaction with
// its audit entry.
func (s *Service) setCompliance(ctx context.Context, storeID string, merge func(old *storage.ComplianceSettings) ComplianceParams) (*storage.ComplianceSettings, error) {
	st, err := s.GetStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	cur, err := cryptopay.ParseCurrency("currency", st.DefaultCurrency)
	if err != nil {
		return nil, err
	}
	var c *storage.ComplianceSettings
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		old, err := tx.LockComplianceSettings(ctx, st.ID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			old = nil
		case err != nil:
			return err
		}
		if c, err = s.complianceFrom(cur, st.ID, merge(old)); err != nil {
			return err
		}
		if old != nil {
			c.RedactedThrough = old.RedactedThrough // the retention job's progress is not a setting
		}
		if err := tx.PutComplianceSettings(ctx, c); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: st.ID, Livemode: st.Livemode, Action: AuditComplianceUpdated,
			Target: st.ID, Details: map[string]any{"before": settingsView(old, cur), "after": settingsView(c, cur)}})
	})
	s.forgetSettings() // committed or not: the next read sees the row as it is
	if err != nil {
		if cryptopay.ErrorCode(err) == cryptopay.CodeInvalid {
			return nil, err
		}
		return nil, fmt.Errorf("set compliance: %w", err)
	}
	return c, nil
}

// complianceFrom validates p into the settings of a store whose currency
// is cur. Errors are CodeInvalid naming the field.
func (s *Service) complianceFrom(cur cryptopay.Currency, storeID string, p ComplianceParams) (*storage.ComplianceSettings, error) {
	c := &storage.ComplianceSettings{StoreID: storeID, Currency: cur.Code, UpdatedAt: s.Now()}
	var err error
	for _, f := range []struct {
		param, v string
		dst      *int64
	}{{"max_invoice", p.MaxInvoice, &c.MaxInvoice}, {"daily", p.Daily, &c.Daily},
		{"monthly", p.Monthly, &c.Monthly}, {"customer_daily", p.CustomerDaily, &c.CustomerDaily}} {
		if *f.dst, err = parseLimit(f.param, f.v, cur); err != nil {
			return nil, err
		}
	}
	if c.CustomerDaily > 0 && s.compliance.vault == nil {
		return nil, cryptopay.Invalid("customer_daily", "A per-customer limit counts invoices by a keyed hash of customer_reference, which needs the subject key vault; set CRYPTOPAY_SUBJECT_VAULT.")
	}
	if p.WarnPercent == 0 {
		p.WarnPercent = DefaultWarnPercent
	}
	if p.WarnPercent < 1 || p.WarnPercent > 100 {
		return nil, cryptopay.Invalid("warn_percent", "warn_percent must be between 1 and 100.")
	}
	c.WarnBasisPoints = p.WarnPercent * 100
	if p.PersonalRetentionDays < 0 || p.PersonalRetentionDays > 100*365 {
		return nil, cryptopay.Invalid("personal_retention_days", "personal_retention_days must be between 0 (until erased) and 36500.")
	}
	c.PersonalRetentionDays = p.PersonalRetentionDays
	c.FinancialRetentionDays = p.FinancialRetentionDays
	if c.FinancialRetentionDays == 0 {
		c.FinancialRetentionDays = DefaultFinancialRetentionDays
	}
	if c.FinancialRetentionDays < 365 || c.FinancialRetentionDays > 100*365 {
		return nil, cryptopay.Invalid("financial_retention_days", "financial_retention_days must be between 365 and 36500.")
	}
	return c, nil
}

// parseLimit reads a decimal limit into minor units; "" and zero mean none.
func parseLimit(param, v string, cur cryptopay.Currency) (int64, error) {
	if v == "" || v == "0" {
		return 0, nil
	}
	n, err := cryptopay.ParseAmount(param, v, cur.Decimals)
	if err != nil {
		return 0, err
	}
	if !n.IsInt64() {
		return 0, cryptopay.Invalid(param, "%s is too large.", param)
	}
	return n.Int64(), nil
}

// settingsView renders settings for the audit log and the API, amounts as
// decimal strings ("" for no limit).
func settingsView(c *storage.ComplianceSettings, cur cryptopay.Currency) map[string]any {
	if c == nil {
		return nil
	}
	lim := func(v int64) string {
		if v == 0 {
			return ""
		}
		return cryptopay.FormatAmount(big.NewInt(v), cur.Decimals)
	}
	return map[string]any{"currency": c.Currency, "max_invoice": lim(c.MaxInvoice), "daily": lim(c.Daily),
		"monthly": lim(c.Monthly), "customer_daily": lim(c.CustomerDaily), "warn_percent": c.WarnBasisPoints / 100,
		"personal_retention_days": c.PersonalRetentionDays, "financial_retention_days": c.FinancialRetentionDays}
}

// SettingsView is settingsView for the transports.
func SettingsView(c *storage.ComplianceSettings) map[string]any {
	cur, _ := cryptopay.LookupCurrency(c.Currency)
	return settingsView(c, cur)
}

// limitValue is an invoice's value in minor units of the store's
// currency; see the comment at the top of this file.
func (s *Service) limitValue(ctx context.Context, inv *cryptopay.Invoice, storeCur string) (*big.Int, error) {
	if inv.Currency == storeCur {
		return inv.Amount, nil
	}
	cur, ok := cryptopay.LookupCurrency(storeCur)
	asset, aok := cryptopay.LookupCurrency(inv.Asset)
	if !ok || !aok || cur.Crypto {
		return nil, cryptopay.Errorf(cryptopay.CodeUnavailable, "This store's limits are in %s; price the invoice in %s.", storeCur, storeCur)
	}
	if s.rates == nil {
		return nil, cryptopay.Errorf(cryptopay.CodeUnavailable, "This store's limits are in %s and no exchange rate source is configured; price the invoice in %s.", storeCur, storeCur)
	}
	rate, err := s.rates.Rate(ctx, asset.Code, cur.Code)
	if err != nil {
		return nil, err
	}
	// Rounded up: a limit is never passed by a rounding.
	v := cryptopay.FiatValue(inv.CryptoDue, asset, rate, cur)
	back := new(big.Rat).Mul(new(big.Rat).SetFrac(inv.CryptoDue, pow10(asset.Decimals)), rate)
	if new(big.Rat).SetFrac(v, pow10(cur.Decimals)).Cmp(back) < 0 {
		v.Add(v, big.NewInt(1))
	}
	return v, nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// limitCheck is what CreateInvoice learned before its transaction.
type limitCheck struct {
	value   *big.Int // nil: the store has no limits
	subject string   // keyed hash of the customer reference, "" for none
}

// prepareLimits computes the invoice's value when its store has limits.
func (s *Service) prepareLimits(ctx context.Context, inv *cryptopay.Invoice, st *cryptopay.Store) (*big.Int, error) {
	c, err := s.complianceSettings(ctx, st.ID) // settingscache.go
	if err != nil {
		return nil, err
	}
	if c == nil || c.MaxInvoice == 0 && c.Daily == 0 && c.Monthly == 0 && c.CustomerDaily == 0 {
		return nil, nil
	}
	return s.limitValue(ctx, inv, c.Currency)
}

// limitWarning is a share of a limit reached, to alert after commit.
type limitWarning struct{ limit, used, of string }

// checkLimits enforces the store's limits in the invoice's transaction.
// It returns the usage row to write once the invoice is inserted (nil
// without limits) and the warnings to raise once committed.
func (s *Service) checkLimits(ctx context.Context, tx storage.Tx, inv *cryptopay.Invoice, lc limitCheck) (*storage.LimitUsage, []limitWarning, error) {
	if lc.value == nil {
		return nil, nil, nil
	}
	c, err := tx.LockComplianceSettings(ctx, inv.StoreID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil // removed since: nothing to enforce
	}
	if err != nil {
		return nil, nil, err
	}
	cur, _ := cryptopay.LookupCurrency(c.Currency)
	amt := func(v *big.Int) string { return cryptopay.FormatAmount(v, cur.Decimals) + " " + cur.Code }
	if c.MaxInvoice > 0 && lc.value.Cmp(big.NewInt(c.MaxInvoice)) > 0 {
		return nil, nil, &cryptopay.Error{Code: cryptopay.CodeLimitExceeded, Param: "max_invoice",
			Message: fmt.Sprintf("This invoice is worth %s, above the store's max_invoice limit of %s.", amt(lc.value), amt(big.NewInt(c.MaxInvoice)))}
	}
	if !lc.value.IsInt64() || lc.value.Int64() > math.MaxInt64/2 {
		return nil, nil, &cryptopay.Error{Code: cryptopay.CodeLimitExceeded, Param: "amount", Message: "This invoice's value is too large to count against the store's limits."}
	}
	day := inv.CreatedAt.UTC().Truncate(24 * time.Hour)
	month := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
	var warnings []limitWarning
	for _, l := range []struct {
		name     string
		limit    int64
		subject  string
		from, to time.Time
	}{
		{"daily", c.Daily, "", day, day.AddDate(0, 0, 1)},
		{"monthly", c.Monthly, "", month, month.AddDate(0, 1, 0)},
		{"customer_daily", c.CustomerDaily, lc.subject, day, day.AddDate(0, 0, 1)},
	} {
		if l.limit == 0 || l.name == "customer_daily" && inv.CustomerReference == "" {
			continue
		}
		if l.name == "customer_daily" && l.subject == "" {
			return nil, nil, cryptopay.Errorf(cryptopay.CodeUnavailable, "This store has a per-customer limit, which needs the subject key vault; set CRYPTOPAY_SUBJECT_VAULT.")
		}
		used, err := tx.SumLimitUsage(ctx, inv.StoreID, l.subject, l.from, l.to)
		if err != nil {
			return nil, nil, err
		}
		after := new(big.Int).Add(used, lc.value)
		limit := big.NewInt(l.limit)
		if after.Cmp(limit) > 0 {
			return nil, nil, &cryptopay.Error{Code: cryptopay.CodeLimitExceeded, Param: l.name,
				Message: fmt.Sprintf("This invoice (%s) would bring the store's %s total to %s, above its %s limit of %s.",
					amt(lc.value), l.name, amt(after), l.name, amt(limit))}
		}
		// Warn once: on the invoice that crosses the share.
		threshold := new(big.Int).Mul(limit, big.NewInt(int64(c.WarnBasisPoints)))
		if new(big.Int).Mul(after, big.NewInt(10000)).Cmp(threshold) >= 0 && new(big.Int).Mul(used, big.NewInt(10000)).Cmp(threshold) < 0 {
			warnings = append(warnings, limitWarning{l.name, amt(after), amt(limit)})
		}
	}
	return &storage.LimitUsage{InvoiceID: inv.ID, StoreID: inv.StoreID,
		Subject: lc.subject, Value: lc.value.Int64(), At: inv.CreatedAt}, warnings, nil
}

// Notifier reaches the operator (the alert sinks). Declared here, where
// it is used, so the service imports no sink.
type Notifier func(ctx context.Context, severity, title, text string)

// SetNotifier sets where the service's alerts go (limit warnings,
// incident actions). Without one they are logged.
func (s *Service) SetNotifier(n Notifier) { s.compliance.notify = n }

func (s *Service) notify(ctx context.Context, severity, title, text string) {
	if n := s.compliance.notify; n != nil {
		n(ctx, severity, title, text)
		return
	}
	s.log.WarnContext(ctx, title, "severity", severity, "text", text)
}

func (s *Service) warnLimits(ctx context.Context, inv *cryptopay.Invoice, ws []limitWarning) {
	for _, w := range ws {
		s.notify(ctx, "warning", "Store limit nearly reached",
			fmt.Sprintf("Store %s: invoice %s brought the %s total to %s of its %s limit.", inv.StoreID, inv.ID, w.limit, w.used, w.of))
	}
}
