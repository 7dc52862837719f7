package account

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseKey checks ParseKey never panics, classifies every refusal under
// exactly one documented sentinel without echoing the input, and that every
// accepted key round-trips through String and derives address 0 with the
// network's prefix.
func FuzzParseKey(f *testing.F) {
	fx := newFixtures(f)
	acctPub, _ := fx.acctPriv.Neuter()
	for _, s := range []string{
		fx.zpub, fx.vpub, fx.master, fx.depth4, bip84Zpub, bip84Zprv,
		withVersion(f, acctPub, [4]byte{0x04, 0x88, 0xb2, 0x1e}),
		withVersion(f, acctPub, [4]byte{0x04, 0x9d, 0x7c, 0xb2}),
		rawKey(zpubVersion, 3, make([]byte, 33)),
		"", "xpub", "zprv", bip84Recv0, " " + fx.zpub,
	} {
		for _, n := range []Network{Mainnet, Regtest} {
			f.Add(s, string(n))
		}
	}
	hrp := map[Network]string{Mainnet: "bc1q", Testnet: "tb1q", Signet: "tb1q", Regtest: "bcrt1q"}
	f.Fuzz(func(t *testing.T, s, netName string) {
		net := Network(netName)
		k, err := ParseKey(s, net)
		if err != nil {
			n := 0
			for _, sentinel := range parseSentinels {
				if errors.Is(err, sentinel) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
			}
			if in := strings.TrimSpace(s); len(in) >= 12 && strings.Contains(err.Error(), in) {
				t.Fatalf("error echoes the input: %q", err)
			}
			return
		}
		again, err := ParseKey(k.String(), k.Network())
		if err != nil || again.String() != k.String() || again.Fingerprint() != k.Fingerprint() {
			t.Fatalf("accepted key does not round-trip through String: %v", err)
		}
		a, err := k.Address(0)
		if err != nil {
			t.Fatalf("accepted key cannot derive address 0: %v", err)
		}
		if !strings.HasPrefix(a.String, hrp[net]) || len(a.Script) != 22 || a.Script[0] != 0 || a.Script[1] != 20 {
			t.Fatalf("address 0 = %s, script %x: not P2WPKH on %s", a.String, a.Script, net)
		}
		b, _ := again.Address(0)
		if a.String != b.String {
			t.Fatalf("round-tripped key derives %s, original %s", b.String, a.String)
		}
	})
}
