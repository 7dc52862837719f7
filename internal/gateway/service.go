// Package gateway is the application service of the payment gateway: it
// validates requests, enforces modes and scopes, prices invoices, derives
// deposit addresses and writes every change together with its event in one
// transaction. The HTTP API and the command line are thin layers over it.
//
// It is not a transport: it knows nothing of HTTP, JSON bodies or flags.
package gateway

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/password"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Outbox writes an event and enqueues its webhook deliveries, both in tx:
// an event and its deliveries commit or roll back together. The webhook
// package's *Outbox is the one implementation; it is declared here, where
// it is used, so that the service depends on no job queue.
type Outbox interface {
	Append(ctx context.Context, tx storage.Tx, e *cryptopay.Event) error
}

// Config carries the service's dependencies.
type Config struct {
	DB storage.DB
	// Outbox writes every event the service makes. Required: a service
	// without one would write events whose deliveries nobody ever queues.
	Outbox Outbox
	Rates  cryptopay.RateSource
	Logger *slog.Logger
	Now    func() time.Time // the clock; time.Now when nil
	// ReorgLimit is the chain watcher's safety limit
	// (CRYPTOPAY_BITCOIN_REORG_LIMIT): no store's confirmation policy may
	// require more. Zero checks nothing.
	ReorgLimit int
	// PasswordParams are the argon2id costs of new dashboard password
	// hashes; zero means password.Default. Tests lower them.
	PasswordParams password.Params
	// EVM are the configured EVM networks (deposit addresses, tokens,
	// tiers); a network absent here takes no invoices and no stores.
	EVM map[cryptopay.Network]EVMChain
}

// Service is the gateway's application service. It is safe for concurrent
// use.
type Service struct {
	db       storage.DB
	outbox   Outbox
	rates    cryptopay.RateSource
	log      *slog.Logger
	now      func() time.Time
	limit    int // Config.ReorgLimit
	evm      map[cryptopay.Network]EVMChain
	keys     sync.Map // "storeID/network" → *account.Key, parsed once
	usage    keyUsage
	scopes   scopeUsage // per-scope use, throttled; see scopeuse.go
	addrs    addressPools
	stores   storeCache
	counts   authCounters
	authAgg  authAgg // authentication failures awaiting their audit entry
	pwParams password.Params
	// dummyHash is verified for sign-ins naming no account, so a sign-in
	// takes as long whether or not the account exists; made on first use.
	dummyHash func() string
	keyCache  keyCache      // API keys by hash; apikeycache.go
	settings  settingsCache // compliance settings by store; settingscache.go
	// compliance: the subject key vault and the operator's notifier
	// (limits.go, subjects.go).
	compliance complianceDeps

	observersMu sync.RWMutex
	observers   []func(*cryptopay.Invoice)
}

// OnInvoiceCreated registers fn to be told of every invoice this process
// creates, after it committed (the chain watcher starts watching its
// address at once instead of at its next refresh). fn must not block.
func (s *Service) OnInvoiceCreated(fn func(*cryptopay.Invoice)) {
	s.observersMu.Lock()
	s.observers = append(s.observers, fn)
	s.observersMu.Unlock()
}

func (s *Service) invoiceCreated(inv *cryptopay.Invoice) {
	s.observersMu.RLock()
	defer s.observersMu.RUnlock()
	for _, fn := range s.observers {
		fn(inv)
	}
}

// New returns a Service. It panics without cfg.Outbox: that is a wiring
// mistake, and caught at start-up it cannot silently drop deliveries.
func New(cfg Config) *Service {
	if cfg.Outbox == nil {
		panic("gateway: Config.Outbox is required; without it events would be written with no webhook deliveries")
	}
	s := &Service{
		db:     cfg.DB,
		outbox: cfg.Outbox,
		rates:  cfg.Rates,
		log:    cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:    cfg.Now,
		limit:  cfg.ReorgLimit,
		evm:    cfg.EVM,
	}
	s.pwParams = cfg.PasswordParams
	if s.pwParams == (password.Params{}) {
		s.pwParams = password.Default
	}
	s.dummyHash = sync.OnceValue(func() string { return password.Hash("no such user: timing equaliser", s.pwParams) })
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// DB returns the service's database, for readiness checks.
func (s *Service) DB() storage.DB { return s.db }

// Now returns the service clock's current time in UTC, truncated to the
// microsecond precision the engines store.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// accountKey returns the parsed account key of a store's wallet, parsing
// it at most once per process.
func (s *Service) accountKey(storeID string, w cryptopay.Wallet) (*account.Key, error) {
	// Keyed by the key itself too: a store's key can be replaced, and the
	// new one must never be served from the old one's entry.
	id := storeID + "/" + string(w.Network) + "/" + w.AccountKey
	if k, ok := s.keys.Load(id); ok {
		return k.(*account.Key), nil
	}
	k, err := account.ParseKey(w.AccountKey, accountNetwork(w.Network))
	if err != nil {
		return nil, err
	}
	s.keys.Store(id, k)
	return k, nil
}

// accountNetwork maps a gateway network onto the key package's networks.
func accountNetwork(n cryptopay.Network) account.Network {
	switch n {
	case cryptopay.NetworkBitcoin:
		return account.Mainnet
	case cryptopay.NetworkBitcoinTestnet:
		return account.Testnet
	case cryptopay.NetworkBitcoinSignet:
		return account.Signet
	default:
		return account.Regtest
	}
}

// notFound is the client error for an object that does not exist or is
// not visible to the caller; the two are indistinguishable on purpose.
func notFound(what, id string) error {
	return cryptopay.Errorf(cryptopay.CodeNotFound, "No such %s: %q.", what, id)
}
