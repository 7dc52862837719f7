package cryptopay

import (
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// StoreSettings is how a store presents itself to its payers on the
// checkout page: its logo and colour, where a payer gets help, and which
// block explorer a transaction id links to. Everything is optional; a
// store without settings shows the gateway's defaults.
type StoreSettings struct {
	StoreID string
	// SupportURL is an https page where payers reach the shop ("" if none).
	SupportURL string
	// SupportEmail is the shop's contact address for payers ("" if none).
	SupportEmail string
	// BrandColor is "#rrggbb" or "" for the gateway's blue.
	BrandColor string
	// ExplorerTxURL links a transaction id: an https URL containing
	// "{txid}" once, e.g. "https://mempool.space/tx/{txid}". "" takes the
	// network's default (DefaultExplorerTxURL).
	ExplorerTxURL string
	// Logo is an image the gateway serves itself (never loaded from a third
	// party at view time); LogoType its sniffed media type. Both empty when
	// the store has none.
	Logo      []byte
	LogoType  string
	UpdatedAt time.Time
}

// MaxLogoBytes bounds a store's logo: a checkout page stays light on a
// phone.
const MaxLogoBytes = 256 << 10

// ParseBrandColor validates a colour written "#rrggbb" (any case) and
// returns it in lowercase; "" stays "" (the default colour). Errors are
// CodeInvalid errors naming param.
func ParseBrandColor(param, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	ok := len(s) == 7 && s[0] == '#'
	for i := 1; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	if !ok {
		return "", Invalid(param, "%s must be a colour written #rrggbb, e.g. #1a5fb4.", param)
	}
	return strings.ToLower(s), nil
}

// ParseSupportURL validates the shop's support page: an absolute https
// URL (http only on test stores, for a shop under development) without
// credentials, at most 500 characters.
func ParseSupportURL(param, s string, livemode bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || len(s) > 500 || u.Host == "" || u.User != nil || u.Opaque != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && !livemode) {
		return "", Invalid(param, "%s must be an absolute https URL (at most 500 characters, no user name or password).", param)
	}
	return u.String(), nil
}

// ParseSupportEmail validates the shop's contact address: a bare address
// (no display name), at most 254 characters.
func ParseSupportEmail(param, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", Invalid(param, "%s must be an email address such as support@shop.example.", param)
	}
	return s, nil
}

// ParseExplorerTxURL validates a block explorer template: an absolute
// https URL, at most 500 characters, with "{txid}" exactly once (in the
// path or the query), which the checkout page replaces with a transaction
// id.
func ParseExplorerTxURL(param, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := Invalid(param, "%s must be an https URL with {txid} where the transaction id goes, e.g. https://mempool.space/tx/{txid}.", param)
	if len(s) > 500 || strings.Count(s, "{txid}") != 1 {
		return "", bad
	}
	// Parse with a stand-in id, so the braces do not decide the outcome.
	u, err := url.Parse(strings.Replace(s, "{txid}", "0123abcd", 1))
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" || u.Fragment != "" ||
		strings.Contains(u.Host, "0123abcd") {
		return "", bad
	}
	return s, nil
}

// TxURL returns the explorer link for txid on network n under template
// tmpl (a store's ExplorerTxURL, or "" for the network's default). It is
// "" when there is no explorer for the network (regtest) or txid is not
// a transaction id.
func TxURL(tmpl string, n Network, txid string) string {
	if tmpl == "" {
		tmpl = DefaultExplorerTxURL(n)
	}
	if tmpl == "" || !isHex(txid) {
		return ""
	}
	return strings.Replace(tmpl, "{txid}", txid, 1)
}

// DefaultExplorerTxURL is the explorer a network's transaction ids link to
// when the store sets none; "" for regtest, which has no public explorer.
func DefaultExplorerTxURL(n Network) string {
	switch n {
	case NetworkBitcoin:
		return "https://mempool.space/tx/{txid}"
	case NetworkBitcoinTestnet:
		return "https://mempool.space/testnet/tx/{txid}"
	case NetworkBitcoinSignet:
		return "https://mempool.space/signet/tx/{txid}"
	}
	return ""
}

func isHex(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
