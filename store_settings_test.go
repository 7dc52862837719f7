package cryptopay

import (
	"strings"
	"testing"
)

func TestStoreSettingsParsers(t *testing.T) {
	type parser func(string) (string, error)
	color := func(s string) (string, error) { return ParseBrandColor("c", s) }
	live := func(s string) (string, error) { return ParseSupportURL("u", s, true) }
	test := func(s string) (string, error) { return ParseSupportURL("u", s, false) }
	email := func(s string) (string, error) { return ParseSupportEmail("e", s) }
	explorer := func(s string) (string, error) { return ParseExplorerTxURL("x", s) }
	cases := []struct {
		name string
		p    parser
		in   string
		want string // "!" means refused
	}{
		{"colour", color, "#1A5fB4", "#1a5fb4"},
		{"colour empty", color, "", ""},
		{"colour short form", color, "#fff", "!"},
		{"colour name", color, "blue", "!"},
		{"colour with CSS after it", color, "#000000;}", "!"},
		{"colour non-hex", color, "#12345g", "!"},
		{"support https", live, "https://shop.example/help?x=1", "https://shop.example/help?x=1"},
		{"support http on live", live, "http://shop.example/", "!"},
		{"support http on test", test, "http://localhost:8080/help", "http://localhost:8080/help"},
		{"support javascript", test, "javascript:alert(1)", "!"},
		{"support relative", live, "/help", "!"},
		{"support credentials", live, "https://u:p@shop.example/", "!"},
		{"email", email, "help@shop.example", "help@shop.example"},
		{"email with name", email, "Help <help@shop.example>", "!"},
		{"email no domain dot", email, "help@localhost", "!"},
		{"email header injection", email, "a@b.example\r\nBcc: x@y.example", "!"},
		{"explorer", explorer, "https://mempool.space/tx/{txid}", "https://mempool.space/tx/{txid}"},
		{"explorer in query", explorer, "https://x.example/search?q={txid}", "https://x.example/search?q={txid}"},
		{"explorer twice", explorer, "https://x.example/{txid}/{txid}", "!"},
		{"explorer http", explorer, "http://x.example/tx/{txid}", "!"},
		{"explorer txid in host", explorer, "https://{txid}.x.example/", "!"},
		{"explorer none", explorer, "https://x.example/tx/", "!"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.p(c.in)
			if c.want == "!" {
				if e, ok := err.(*Error); !ok || e.Code != CodeInvalid || e.Param == "" {
					t.Fatalf("%q accepted as %q (%v); want an invalid_request naming its field", c.in, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("%q = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

func TestTxURL(t *testing.T) {
	tx := strings.Repeat("ab", 32)
	for _, c := range []struct {
		name, tmpl string
		n          Network
		txid, want string
	}{
		{"store's explorer", "https://x.example/tx/{txid}", NetworkBitcoinRegtest, tx, "https://x.example/tx/" + tx},
		{"mainnet default", "", NetworkBitcoin, tx, "https://mempool.space/tx/" + tx},
		{"regtest has none", "", NetworkBitcoinRegtest, tx, ""},
		{"not a txid", "https://x.example/tx/{txid}", NetworkBitcoin, "../admin", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := TxURL(c.tmpl, c.n, c.txid); got != c.want {
				t.Fatalf("TxURL = %q, want %q", got, c.want)
			}
		})
	}
}

// FuzzStoreSettingsParsers: whatever the input, the parsers never panic,
// and what they accept is accepted again unchanged (a canonical form).
func FuzzStoreSettingsParsers(f *testing.F) {
	for _, s := range []string{"#1a5fb4", "https://shop.example/help", "help@shop.example", "https://mempool.space/tx/{txid}", "", "javascript:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, p := range map[string]func(string) (string, error){
			"colour":   func(s string) (string, error) { return ParseBrandColor("c", s) },
			"url":      func(s string) (string, error) { return ParseSupportURL("u", s, true) },
			"email":    func(s string) (string, error) { return ParseSupportEmail("e", s) },
			"explorer": func(s string) (string, error) { return ParseExplorerTxURL("x", s) },
		} {
			out, err := p(s)
			if err != nil {
				continue
			}
			again, err := p(out)
			if err != nil || again != out {
				t.Fatalf("%s: %q → %q → %q, %v: not stable", name, s, out, again, err)
			}
			if name == "colour" && out != "" && len(out) != 7 {
				t.Fatalf("colour %q accepted as %q", s, out)
			}
		}
	})
}
