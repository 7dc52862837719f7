package gateway

import (
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
	if st.Name == "" || len(st.Name) > 100 {
		return nil, cryptopay.Invalid("name", "name is required and must be at most 100 characters.")
	}
	if err := validateText("name", st.Name, 100, true); err != nil {
		return nil, err
	}
	if st.DefaultCurrency == "" {
		st.DefaultCurrency = "USD"
	}
	if _, err := cryptopay.ParseCurrency("default_currency", st.DefaultCurrency); err != nil {
		return nil, err
	}
	if st.InvoiceExpiry == 0 {
		st.InvoiceExpiry = cryptopay.DefaultInvoiceExpiry
	}
	if st.InvoiceExpiry < cryptopay.MinInvoiceExpiry || st.InvoiceExpiry > cryptopay.MaxInvoiceExpiry {
		return nil, cryptopay.Invalid("invoice_expiry", "invoice_expiry must be between %s and %s.", cryptopay.MinInvoiceExpiry, cryptopay.MaxInvoiceExpiry)
	}
	if st.MonitoringWindow == 0 {
		st.MonitoringWindow = cryptopay.DefaultMonitoringWindow
	}
	if st.MonitoringWindow < 0 || st.MonitoringWindow > 30*24*time.Hour {
		return nil, cryptopay.Invalid("monitoring_window", "monitoring_window must be between 0 and 30 days.")
	}
	if st.ToleranceBasisPoints < 0 || st.ToleranceBasisPoints > 1000 {
		return nil, cryptopay.Invalid("tolerance", "tolerance must be between 0 and 10 percent (0 to 1000 basis points).")
	}
	if st.RateSpreadBasisPoints < 0 || st.RateSpreadBasisPoints > maxRateSpreadBP {
		return nil, cryptopay.Invalid("rate_spread", "rate_spread must be between 0 and 20 percent (0 to %d basis points).", maxRateSpreadBP)
	}
	st.Confirmations = cryptopay.DefaultConfirmationPolicy()
	if p.Confirmations != nil {
		st.Confirmations = *p.Confirmations
	}
	if err := st.Confirmations.CheckReorgLimit(s.limit); err != nil {
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
