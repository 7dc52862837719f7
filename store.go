package cryptopay

import (
	"math/big"
	"strconv"
	"strings"
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
	// RateSpreadBasisPoints lowers the market rate of fiat-priced invoices
	// by this many 1/100 of a percent (the store's margin against price
	// moves and conversion costs); 0 uses the market rate.
	RateSpreadBasisPoints int
	Wallets               []Wallet
	CreatedAt             time.Time
}

// Wallet is a store's account public key on one network and the next
// unused derivation index under that key. The gateway never holds a
// private key.
type Wallet struct {
	Network     Network
	AccountKey  string // xpub/zpub/tpub/vpub as entered
	Fingerprint string // short, non-secret identifier for logs and display
	NextIndex   uint32
	// KeyGeneration counts the replacements of the wallet's key: of two
	// readings of the wallet, the one with the higher generation holds the
	// newer key (a key can come back, so the fingerprint cannot tell).
	KeyGeneration int64
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
	// ZeroConfBelow, when set, lets invoices worth less (minor units of
	// Currency) settle at the first block rather than their tier's depth.
	// Never on an unconfirmed payment, whatever it signals: under full-RBF
	// (Bitcoin Core 28 and later, and miners) any unconfirmed transaction
	// can be replaced. Off by default; at most the first tier's bound, so
	// it only ever covers small payments.
	ZeroConfBelow *big.Int
}

// Highest returns the most confirmations the policy ever requires.
func (p ConfirmationPolicy) Highest() int {
	m := p.Above
	for _, t := range p.Tiers {
		m = max(m, t.Confirmations)
	}
	return m
}

// CheckReorgLimit refuses a policy that requires more confirmations than
// the chain watcher follows reorgs for: the tracker lets a payment go once
// it is that deep (final), so a higher requirement could never be met.
// limit <= 0 checks nothing.
func (p ConfirmationPolicy) CheckReorgLimit(limit int) error {
	if limit > 0 && p.Highest() > limit {
		return Invalid("confirmations", "the confirmation policy requires up to %d confirmations, more than the reorg limit of %d (CRYPTOPAY_BITCOIN_REORG_LIMIT); lower the highest tier to at most %d or raise the limit.",
			p.Highest(), limit, limit)
	}
	return nil
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
	if p.ZeroConfBelow != nil && value.Cmp(p.ZeroConfBelow) < 0 {
		return 0
	}
	for _, t := range p.Tiers {
		if value.Cmp(t.Below) < 0 {
			return t.Confirmations
		}
	}
	return p.Above
}

// Spec writes the policy the way ParseConfirmationPolicy reads it: the
// tiers ("100.00:3,1000.00:12,24") and the zero-confirmation bound ("" when
// off), both in the policy's currency.
func (p ConfirmationPolicy) Spec() (tiers, zeroConfBelow string) {
	cur, _ := LookupCurrency(p.Currency)
	parts := make([]string, 0, len(p.Tiers)+1)
	for _, t := range p.Tiers {
		parts = append(parts, FormatAmount(t.Below, cur.Decimals)+":"+strconv.Itoa(t.Confirmations))
	}
	parts = append(parts, strconv.Itoa(p.Above))
	if p.ZeroConfBelow != nil {
		zeroConfBelow = FormatAmount(p.ZeroConfBelow, cur.Decimals)
	}
	return strings.Join(parts, ","), zeroConfBelow
}

// ParseConfirmationPolicy reads a policy written as "BOUND:N,BOUND:N,N"
// in currency: "100.00:3,1000.00:12,24" is the guide's table (under 100 → 3,
// under 1,000 → 12, otherwise 24). zeroConfBelow is "" (off) or a decimal
// bound under which invoices settle at the first block (never on an
// unconfirmed payment: full-RBF). Errors are CodeInvalid errors naming
// param.
func ParseConfirmationPolicy(param, currency, spec, zeroConfBelow string) (ConfirmationPolicy, error) {
	cur, err := ParseCurrency(param+".currency", currency)
	if err != nil {
		return ConfirmationPolicy{}, err
	}
	if cur.Crypto {
		return ConfirmationPolicy{}, Invalid(param+".currency", "confirmation tiers are priced in a fiat currency, not %s.", cur.Code)
	}
	p := ConfirmationPolicy{Currency: cur.Code}
	parts := strings.Split(spec, ",")
	for i, part := range parts {
		bound, n, isTier := strings.Cut(strings.TrimSpace(part), ":")
		if !isTier {
			if i != len(parts)-1 {
				return ConfirmationPolicy{}, Invalid(param, "only the last item may omit a bound: want \"100.00:3,1000.00:12,24\".")
			}
			n = bound
		}
		conf, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || conf < 1 || conf > 1000 {
			return ConfirmationPolicy{}, Invalid(param, "%q: confirmations must be a whole number from 1 to 1000.", part)
		}
		if !isTier {
			p.Above = conf
			break
		}
		b, err := ParseAmount(param, strings.TrimSpace(bound), cur.Decimals)
		if err != nil {
			return ConfirmationPolicy{}, err
		}
		if len(p.Tiers) > 0 && (b.Cmp(p.Tiers[len(p.Tiers)-1].Below) <= 0 || conf < p.Tiers[len(p.Tiers)-1].Confirmations) {
			return ConfirmationPolicy{}, Invalid(param, "tiers must rise: each bound above the last, never fewer confirmations for more value.")
		}
		p.Tiers = append(p.Tiers, ConfirmationTier{Below: b, Confirmations: conf})
	}
	if p.Above == 0 {
		return ConfirmationPolicy{}, Invalid(param, "end with the confirmations for everything above the last bound, e.g. \",24\".")
	}
	if len(p.Tiers) > 0 && p.Above < p.Tiers[len(p.Tiers)-1].Confirmations {
		return ConfirmationPolicy{}, Invalid(param, "the last item must require at least as many confirmations as the tiers below it.")
	}
	if zeroConfBelow != "" {
		z, err := ParseAmount(param+".zero_conf_below", zeroConfBelow, cur.Decimals)
		if err != nil {
			return ConfirmationPolicy{}, err
		}
		if len(p.Tiers) == 0 || z.Cmp(p.Tiers[0].Below) > 0 {
			return ConfirmationPolicy{}, Invalid(param+".zero_conf_below", "zero-confirmation settlement is only for small payments: at most the first tier's bound.")
		}
		p.ZeroConfBelow = z
	}
	return p, nil
}
