package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// maxRateSpreadBP bounds a store's spread: a margin beyond 20 % is a
// typo, not a business decision.
const maxRateSpreadBP = 2000

// StoreParams describes a new store. Zero durations take the defaults.
type StoreParams struct {
	Name                 string
	Livemode             bool
	DefaultCurrency      string
	InvoiceExpiry        time.Duration
	MonitoringWindow     time.Duration
	ToleranceBasisPoints int
	Confirmations        *cryptopay.ConfirmationPolicy // nil: the guide's tiers
	AllowPII             bool
	Wallets              []WalletParams
	// RateSpreadBasisPoints lowers the market rate of fiat-priced invoices
	// (0 to 2000: up to 20 %).
	RateSpreadBasisPoints int
}

// WalletParams is one account public key for one network.
type WalletParams struct {
	Network    string
	AccountKey string
}

// CreateStore validates p and creates the store. Account keys are checked
// for checksum, network and depth; a private key is refused and never
// stored or echoed.
func (s *Service) CreateStore(ctx context.Context, p StoreParams) (*cryptopay.Store, error) {
	now := s.Now()
	st := &cryptopay.Store{
		ID:                   cryptopay.NewID(cryptopay.PrefixStore, now),
		Name:                 strings.TrimSpace(p.Name),
		Livemode:             p.Livemode,
		DefaultCurrency:      p.DefaultCurrency,
		InvoiceExpiry:        p.InvoiceExpiry,
		MonitoringWindow:     p.MonitoringWindow,
		ToleranceBasisPoints: p.ToleranceBasisPoints,
		AllowPII:             p.AllowPII,
		CreatedAt:            now,

		RateSpreadBasisPoints: p.RateSpreadBasisPoints,
	}
	if st.DefaultCurrency == "" {
		st.DefaultCurrency = "USD"
	}
	if _, err := cryptopay.ParseCurrency("default_currency", st.DefaultCurrency); err != nil {
		return nil, err
	}
	st.InvoiceExpiry = cmp.Or(st.InvoiceExpiry, cryptopay.DefaultInvoiceExpiry)
	st.MonitoringWindow = cmp.Or(st.MonitoringWindow, cryptopay.DefaultMonitoringWindow)
	st.Confirmations = cryptopay.DefaultConfirmationPolicy()
	if p.Confirmations != nil {
		st.Confirmations = *p.Confirmations
	}
	if err := s.checkStoreRules(st); err != nil {
		return nil, err
	}
	if len(p.Wallets) == 0 {
		return nil, cryptopay.Invalid("wallets", "a store needs at least one account public key.")
	}
	for i, wp := range p.Wallets {
		param := fmt.Sprintf("wallets[%d]", i)
		n, err := cryptopay.ParseNetwork(param+".network", wp.Network)
		if err != nil {
			return nil, err
		}
		if n.Livemode() != st.Livemode {
			return nil, cryptopay.Invalid(param+".network", "network %s is a %s network; this is a %s store.", n, modeName(n.Livemode()), modeName(st.Livemode))
		}
		if _, dup := st.Wallet(n); dup {
			return nil, cryptopay.Invalid(param+".network", "network %s is listed twice.", n)
		}
		w := cryptopay.Wallet{Network: n, AccountKey: strings.TrimSpace(wp.AccountKey)}
		if n.EVM() {
			// On an EVM chain the "account key" is the receiving address
			// every deposit forwarder sends to; it also fingerprints the
			// wallet, so one receiving address serves one store per chain.
			c, err := s.evmChain(n)
			if err != nil {
				return nil, cryptopay.Invalid(param+".network", "%s", cryptopay.ErrorMessage(err))
			}
			if w.AccountKey, err = c.ParseReceiver(w.AccountKey); err != nil {
				return nil, cryptopay.Invalid(param+".account_key", "receiving address: %s", err.Error())
			}
			w.Fingerprint = w.AccountKey
			st.Wallets = append(st.Wallets, w)
			continue
		}
		k, err := s.accountKey(st.ID, w)
		if err != nil {
			return nil, cryptopay.Invalid(param+".account_key", "%s", err.Error())
		}
		w.Fingerprint = k.Fingerprint()
		// A key another store replaced stays that store's (store_key.go);
		// a key another store holds now is caught by the wallets table.
		if used, err := s.keyUsedElsewhere(ctx, n, w.Fingerprint, st.ID); err != nil {
			return nil, err
		} else if used {
			return nil, &cryptopay.Error{Code: cryptopay.CodeConflict, Param: "wallets", Message: errKeyElsewhere.Message}
		}
		st.Wallets = append(st.Wallets, w)
	}
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateStore(ctx, st); err != nil {
			return err
		}
		nets := make([]string, len(st.Wallets))
		for i, w := range st.Wallets {
			nets[i] = string(w.Network) + ":" + w.Fingerprint
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: st.ID, Livemode: st.Livemode, Action: AuditStoreCreated,
			Target: st.ID, Details: map[string]any{"name": st.Name, "wallets": nets, "allow_pii": st.AllowPII}})
	})
	if ce, ok := errors.AsType[*storage.ConflictError](err); ok && ce.Constraint == "wallets_network_fingerprint_key" {
		return nil, &cryptopay.Error{Code: cryptopay.CodeConflict, Param: "wallets",
			Message: "This account key already belongs to another store; two stores on one key would hand out the same deposit addresses. Export a separate account (for example m/84'/0'/1') for this store."}
	}
	if err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}
	return st, nil
}

// GetStore returns a store by id.
func (s *Service) GetStore(ctx context.Context, id string) (*cryptopay.Store, error) {
	if !cryptopay.ValidID(cryptopay.PrefixStore, id) {
		return nil, cryptopay.Invalid("store", "%q is not a store id.", id)
	}
	st, err := s.db.GetStore(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFound("store", id)
	}
	return st, err
}

// ListStores returns every store.
func (s *Service) ListStores(ctx context.Context) ([]cryptopay.Store, error) {
	return s.db.ListStores(ctx)
}

func modeName(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

// checkStoreRules holds the rules for a store's changeable settings, the
// same at creation and at every later change: a name, an expiry and a
// monitoring window within bounds, tolerance and spread within bounds,
// and confirmation tiers never above the chain watcher's reorg limit.
// Errors are CodeInvalid errors naming the field.
func (s *Service) checkStoreRules(st *cryptopay.Store) error {
	if st.Name == "" || len(st.Name) > 100 {
		return cryptopay.Invalid("name", "name is required and must be at most 100 characters.")
	}
	if err := validateText("name", st.Name, 100, true); err != nil {
		return err
	}
	if st.InvoiceExpiry < cryptopay.MinInvoiceExpiry || st.InvoiceExpiry > cryptopay.MaxInvoiceExpiry {
		return cryptopay.Invalid("invoice_expiry", "invoice_expiry must be between %s and %s.", cryptopay.MinInvoiceExpiry, cryptopay.MaxInvoiceExpiry)
	}
	if st.MonitoringWindow < 0 || st.MonitoringWindow > 30*24*time.Hour {
		return cryptopay.Invalid("monitoring_window", "monitoring_window must be between 0 and 30 days.")
	}
	if st.ToleranceBasisPoints < 0 || st.ToleranceBasisPoints > 1000 {
		return cryptopay.Invalid("tolerance", "tolerance must be between 0 and 10 percent (0 to 1000 basis points).")
	}
	if st.RateSpreadBasisPoints < 0 || st.RateSpreadBasisPoints > maxRateSpreadBP {
		return cryptopay.Invalid("rate_spread", "rate_spread must be between 0 and 20 percent (0 to %d basis points).", maxRateSpreadBP)
	}
	return st.Confirmations.CheckReorgLimit(s.limit)
}

// AuditStoreUpdated records a change of a store's settings, with each
// changed field's value before and after.
const AuditStoreUpdated = "store.updated"

// StoreUpdate changes a store's settings; a nil field is left as it is.
// A monitoring window of zero is a real value here (late payments are not
// watched at all), unlike at creation where zero takes the default.
type StoreUpdate struct {
	Name                  *string
	InvoiceExpiry         *time.Duration
	MonitoringWindow      *time.Duration
	ToleranceBasisPoints  *int
	RateSpreadBasisPoints *int
	Confirmations         *cryptopay.ConfirmationPolicy
}

// UpdateStore applies u to the store under the rules that hold at creation
// (checkStoreRules), with an audit entry naming each changed field's old
// and new value, in one transaction. Bad input is a CodeInvalid error
// naming the field and changes nothing; a change to nothing writes
// nothing. Invoices already created keep their expiry, confirmations and
// price: the new values apply to new invoices.
func (s *Service) UpdateStore(ctx context.Context, storeID string, u StoreUpdate) (*cryptopay.Store, error) {
	if _, err := s.GetStore(ctx, storeID); err != nil {
		return nil, err
	}
	var out *cryptopay.Store
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		st, err := tx.LockStore(ctx, storeID)
		if err != nil {
			return err
		}
		before := storeSettingsView(st)
		if u.Name != nil {
			st.Name = strings.TrimSpace(*u.Name)
		}
		if u.InvoiceExpiry != nil {
			st.InvoiceExpiry = *u.InvoiceExpiry
		}
		if u.MonitoringWindow != nil {
			st.MonitoringWindow = *u.MonitoringWindow
		}
		if u.ToleranceBasisPoints != nil {
			st.ToleranceBasisPoints = *u.ToleranceBasisPoints
		}
		if u.RateSpreadBasisPoints != nil {
			st.RateSpreadBasisPoints = *u.RateSpreadBasisPoints
		}
		if u.Confirmations != nil {
			st.Confirmations = *u.Confirmations
		}
		if err := s.checkStoreRules(st); err != nil {
			return err
		}
		out = st
		after := storeSettingsView(st)
		changed := map[string]any{}
		for k, v := range after {
			if before[k] != v {
				changed[k] = map[string]string{"from": before[k], "to": v}
			}
		}
		if len(changed) == 0 {
			return nil
		}
		if err := tx.UpdateStore(ctx, st); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{StoreID: st.ID, Livemode: st.Livemode, Action: AuditStoreUpdated,
			Target: st.ID, Details: changed})
	})
	if err != nil {
		return nil, fmt.Errorf("update store: %w", err)
	}
	s.stores.mu.Lock()
	delete(s.stores.entries, storeID) // this process sees the change at once; others within storeCacheTTL
	s.stores.mu.Unlock()
	return out, nil
}

// storeSettingsView renders the changeable settings as text, for the
// audit entry's before and after.
func storeSettingsView(st *cryptopay.Store) map[string]string {
	return map[string]string{
		"name":              st.Name,
		"invoice_expiry":    st.InvoiceExpiry.String(),
		"monitoring_window": st.MonitoringWindow.String(),
		"tolerance":         fmt.Sprint(st.ToleranceBasisPoints),
		"rate_spread":       fmt.Sprint(st.RateSpreadBasisPoints),
		"confirmations":     policyText(st.Confirmations),
	}
}

func policyText(p cryptopay.ConfirmationPolicy) string {
	tiers, zero := p.Spec()
	s := tiers + " " + p.Currency
	if zero != "" {
		s += ", zero-conf below " + zero
	}
	return s
}
