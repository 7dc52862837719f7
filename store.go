package cryptopay

import (
	"math/big"
	"time"
)

// Store defaults, from the security guide and common practice.
const (
	DefaultInvoiceExpiry    = 15 * time.Minute
	DefaultMonitoringWindow = 24 * time.Hour
	MinInvoiceExpiry        = time.Minute
	MaxInvoiceExpiry        = 30 * 24 * time.Hour
)

// Store is a merchant: the owner of API keys, invoices, webhook endpoints
// and the account keys deposit addresses are derived from. A store is
// either live or test for its whole life; the two never mix.
type Store struct {
	ID               string
	Name             string
	Livemode         bool
	DefaultCurrency  string
	InvoiceExpiry    time.Duration
	MonitoringWindow time.Duration // how long after expiry a late payment is still watched
	// ToleranceBasisPoints is how far under the due amount a payment may
	// fall and still settle, in 1/100 of a percent (0 = exact).
	ToleranceBasisPoints int
	Confirmations        ConfirmationPolicy
	AllowPII             bool // the store accepts personal data in metadata (off by default)
	Wallets              []Wallet
	CreatedAt            time.Time
}

// Wallet is a store's account public key on one network and the next
// unused derivation index. The gateway never holds a private key.
type Wallet struct {
	Network     Network
	AccountKey  string // xpub/zpub/tpub/vpub as entered
	Fingerprint string // short, non-secret identifier for logs and display
	NextIndex   uint32
}

// Wallet returns the store's wallet on network n.
func (s *Store) Wallet(n Network) (Wallet, bool) {
	for _, w := range s.Wallets {
		if w.Network == n {
			return w, true
		}
	}
	return Wallet{}, false
}

// ConfirmationPolicy decides how many confirmations an invoice needs from
// its value, following the security guide: small payments settle sooner,
// large ones wait longer. Tiers are compared in Currency.
type ConfirmationPolicy struct {
	Currency string
	Tiers    []ConfirmationTier // ascending by Below
	Above    int                // confirmations at or above the last tier
}

// ConfirmationTier applies to values strictly below Below (minor units of
// the policy's currency).
type ConfirmationTier struct {
	Below         *big.Int
	Confirmations int
}

// DefaultConfirmationPolicy is the guide's table: under 100 → 3, under
// 1,000 → 12, otherwise 24 (USD).
func DefaultConfirmationPolicy() ConfirmationPolicy {
	return ConfirmationPolicy{
		Currency: "USD",
		Tiers: []ConfirmationTier{
			{Below: big.NewInt(100_00), Confirmations: 3},
			{Below: big.NewInt(1000_00), Confirmations: 12},
		},
		Above: 24,
	}
}

// Required returns the confirmations needed for a value in minor units of
// the policy currency. A nil value (unknown, because no exchange rate was
// available) takes the highest tier: when in doubt, wait longer.
func (p ConfirmationPolicy) Required(value *big.Int) int {
	if value == nil {
		return p.Above
	}
	for _, t := range p.Tiers {
		if value.Cmp(t.Below) < 0 {
			return t.Confirmations
		}
	}
	return p.Above
}
