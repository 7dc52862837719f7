package evmnet

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/cryptopay/cryptopay"
)

func TestParseAddress(t *testing.T) {
	// The EIP-55 specification's own examples.
	const good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"checksummed", good, true},
		{"all lower", strings.ToLower(good[:2]) + strings.ToLower(good[2:]), true},
		{"all upper", "0x" + strings.ToUpper(good[2:]), true},
		{"one letter's case wrong", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", false},
		{"no 0x", good[2:], false},
		{"too short", good[:41], false},
		{"too long", good + "0", false},
		{"not hex", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", false},
		{"zero address", "0x0000000000000000000000000000000000000000", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAddress(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseAddress(%q) err = %v, want ok %v", tc.in, err, tc.ok)
			}
			if tc.ok && a.Hex() != good {
				t.Errorf("ParseAddress(%q) = %s, want %s", tc.in, a.Hex(), good)
			}
		})
	}
}

func TestParseTokens(t *testing.T) {
	const a = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	tests := []struct {
		name, spec string
		want       int
		ok         bool
	}{
		{"empty is no override", "", 0, true},
		{"one", "USDC=" + a, 1, true},
		{"two", "USDC=" + a + ", USDT=0xdAC17F958D2ee523a2206206994597C13D831ec7", 2, true},
		{"unknown asset refused", "STETH=" + a, 0, false},
		{"lower-case asset refused", "usdc=" + a, 0, false},
		{"twice", "USDC=" + a + ",USDC=" + a, 0, false},
		{"no address", "USDC", 0, false},
		{"bad address", "USDC=0x1234", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTokens("X", tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if len(got) != tc.want {
				t.Fatalf("%d tokens, want %d", len(got), tc.want)
			}
			for _, tok := range got {
				if tok.Decimals != 6 {
					t.Errorf("%s decimals %d, want 6", tok.Asset, tok.Decimals)
				}
			}
		})
	}
}

// TestRegistry checks the defaults against facts stated independently of
// the code: every EVM network has an entry, chain ids as the chains publish
// them, tiers within the reorg limit.
func TestRegistry(t *testing.T) {
	ids := map[cryptopay.Network]uint64{
		cryptopay.NetworkEthereum: 1, cryptopay.NetworkBase: 8453, cryptopay.NetworkArbitrum: 42161,
		cryptopay.NetworkPolygon: 137, cryptopay.NetworkBSC: 56, cryptopay.NetworkSepolia: 11155111,
		cryptopay.NetworkBaseSepolia: 84532, cryptopay.NetworkEVMDev: 1337,
	}
	for _, n := range cryptopay.Networks() {
		c, ok := Default(n)
		if ok != n.EVM() {
			t.Errorf("%s: registry entry %v, EVM %v", n, ok, n.EVM())
			continue
		}
		if !ok {
			continue
		}
		if c.ChainID != ids[n] {
			t.Errorf("%s chain id %d, want %d", n, c.ChainID, ids[n])
		}
		p, err := c.Policy("", false)
		if err != nil {
			t.Errorf("%s tiers: %v", n, err)
			continue
		}
		if err := p.CheckReorgLimit(c.ReorgLimit); err != nil {
			t.Errorf("%s tiers above the reorg limit: %v", n, err)
		}
	}
	eth, _ := Default(cryptopay.NetworkEthereum)
	if tok, _ := eth.Token("USDC"); tok.Contract != common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48") {
		t.Errorf("Ethereum USDC = %s", tok.Contract.Hex())
	}
}

func TestPaymentURI(t *testing.T) {
	usdc := common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
	d := &Deposits{Chain: Chain{Network: cryptopay.NetworkEthereum, ChainID: 1, Tokens: []Token{{"USDC", usdc, 6}}}}
	const to = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	tests := []struct{ name, asset, due, want string }{
		{"ether", "ETH", "1500000000000000000", "ethereum:" + to + "@1?value=1500000000000000000"},
		{"ether, nothing due", "ETH", "0", "ethereum:" + to + "@1"},
		{"token", "USDC", "10000000", "ethereum:" + usdc.Hex() + "@1/transfer?address=" + to + "&uint256=10000000"},
		{"token, nothing due", "USDC", "0", "ethereum:" + usdc.Hex() + "@1/transfer?address=" + to},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := d.PaymentURI(to, tc.asset, tc.due); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzParseAddress: whatever the input, an accepted address prints back
// (checksummed) to the same 20 bytes, and a mixed-case input is accepted
// only in its checksummed form.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x", "", "0xZZ", "0x0000000000000000000000000000000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(a.Hex(), s) {
			t.Fatalf("ParseAddress(%q) = %s", s, a.Hex())
		}
		body := s[2:]
		if body != strings.ToLower(body) && body != strings.ToUpper(body) && a.Hex() != s {
			t.Fatalf("accepted mixed-case %q with a wrong checksum", s)
		}
	})
}

// FuzzParseTokens: an accepted spec only ever names USDC or USDT, once
// each, with 6 decimals.
func FuzzParseTokens(f *testing.F) {
	f.Add("USDC=0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48,USDT=0xdAC17F958D2ee523a2206206994597C13D831ec7")
	f.Add("X=1")
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := ParseTokens("X", s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tok := range toks {
			if (tok.Asset != "USDC" && tok.Asset != "USDT") || seen[tok.Asset] || tok.Decimals != 6 {
				t.Fatalf("ParseTokens(%q) accepted %+v", s, tok)
			}
			seen[tok.Asset] = true
		}
	})
}
