package account

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
)

func isErr(err, target error) bool { return err != nil && errors.Is(err, target) }

// parseSentinels are the errors ParseKey promises to wrap.
var parseSentinels = []error{ErrPrivateKey, ErrChecksum, ErrWrongNetwork, ErrWrongDepth,
	ErrUnsupportedVersion, ErrMalformed, ErrUnknownNetwork}

// rawKey serializes extended key fields with a correct checksum, so tests
// can build keys no wallet would emit.
func rawKey(version [4]byte, depth byte, keyData []byte) string {
	b := append(version[:], depth, 0xde, 0xad, 0xbe, 0xef, 0x80, 0, 0, 0)
	b = append(b, make([]byte, 32)...) // chain code
	b = append(b, keyData...)
	first := sha256.Sum256(b)
	second := sha256.Sum256(first[:])
	return base58.Encode(append(b, second[:4]...))
}

// fixtures derives the BIP84 mnemonic's keys in every serialization the
// table needs.
type fixtures struct {
	acctPriv, testPriv *hdkeychain.ExtendedKey
	zpub, vpub         string
	master, depth4     string
	pubKeyData         []byte
}

func newFixtures(tb testing.TB) fixtures {
	tb.Helper()
	seed := bip84Seed(tb)
	var f fixtures
	var err error
	if f.acctPriv, f.zpub, err = DeriveAccountFromSeed(seed, Mainnet, 0); err != nil {
		tb.Fatal(err)
	}
	if f.testPriv, f.vpub, err = DeriveAccountFromSeed(seed, Regtest, 0); err != nil {
		tb.Fatal(err)
	}
	m, err := hdkeychain.NewMaster(seed, Mainnet.Params())
	if err != nil {
		tb.Fatal(err)
	}
	mpub, _ := m.Neuter()
	f.master = withVersion(tb, mpub, zpubVersion)
	acctPub, _ := f.acctPriv.Neuter()
	d4, err := acctPub.Derive(0)
	if err != nil {
		tb.Fatal(err)
	}
	f.depth4 = withVersion(tb, d4, zpubVersion)
	pk, _ := acctPub.ECPubKey()
	f.pubKeyData = pk.SerializeCompressed()
	return f
}

func TestParseKey(t *testing.T) {
	f := newFixtures(t)
	v := func(b0, b1, b2, b3 byte) [4]byte { return [4]byte{b0, b1, b2, b3} }
	acctPub, _ := f.acctPriv.Neuter()
	privBytes, _ := f.acctPriv.ECPrivKey()
	privData := append([]byte{0}, privBytes.Serialize()...)
	badPoint := append([]byte{0x02}, make([]byte, 32)...) // x = 0 is not on the curve
	for i := range badPoint[1:] {
		badPoint[1+i] = 0xff // and x >= p is not a field element
	}
	oneCharChanged := []byte(f.zpub)
	if oneCharChanged[60] == 'a' {
		oneCharChanged[60] = 'b'
	} else {
		oneCharChanged[60] = 'a'
	}

	tests := []struct {
		name string
		in   string
		net  Network
		want error // nil: accepted
	}{
		{"zpub on mainnet", f.zpub, Mainnet, nil},
		{"xpub on mainnet", withVersion(t, acctPub, v(0x04, 0x88, 0xb2, 0x1e)), Mainnet, nil},
		{"vpub on regtest", f.vpub, Regtest, nil},
		{"vpub on testnet", f.vpub, Testnet, nil},
		{"vpub on signet", f.vpub, Signet, nil},
		{"tpub on regtest", withVersion(t, acctPub, v(0x04, 0x35, 0x87, 0xcf)), Regtest, nil},
		{"zpub with surrounding space", "  " + f.zpub + "\n", Mainnet, nil},

		{"xprv", withVersion(t, f.acctPriv, v(0x04, 0x88, 0xad, 0xe4)), Mainnet, ErrPrivateKey},
		{"zprv", withVersion(t, f.acctPriv, v(0x04, 0xb2, 0x43, 0x0c)), Mainnet, ErrPrivateKey},
		{"yprv", withVersion(t, f.acctPriv, v(0x04, 0x9d, 0x78, 0x78)), Mainnet, ErrPrivateKey},
		{"Zprv multisig", withVersion(t, f.acctPriv, v(0x02, 0xaa, 0x7a, 0x99)), Mainnet, ErrPrivateKey},
		{"tprv", withVersion(t, f.testPriv, v(0x04, 0x35, 0x83, 0x94)), Regtest, ErrPrivateKey},
		{"vprv", withVersion(t, f.testPriv, v(0x04, 0x5f, 0x18, 0xbc)), Regtest, ErrPrivateKey},
		{"uprv", withVersion(t, f.testPriv, v(0x04, 0x4a, 0x4e, 0x28)), Testnet, ErrPrivateKey},
		{"vprv on mainnet", withVersion(t, f.testPriv, v(0x04, 0x5f, 0x18, 0xbc)), Mainnet, ErrPrivateKey},
		{"truncated zprv", withVersion(t, f.acctPriv, v(0x04, 0xb2, 0x43, 0x0c))[:70], Mainnet, ErrPrivateKey},
		{"private key data under zpub version", rawKey(zpubVersion, 3, privData), Mainnet, ErrPrivateKey},

		{"zpub on regtest", f.zpub, Regtest, ErrWrongNetwork},
		{"zpub on testnet", f.zpub, Testnet, ErrWrongNetwork},
		{"vpub on mainnet", f.vpub, Mainnet, ErrWrongNetwork},
		{"tpub on mainnet", withVersion(t, acctPub, v(0x04, 0x35, 0x87, 0xcf)), Mainnet, ErrWrongNetwork},

		{"master key (depth 0)", f.master, Mainnet, ErrWrongDepth},
		{"address-chain key (depth 4)", f.depth4, Mainnet, ErrWrongDepth},
		{"depth 2", rawKey(zpubVersion, 2, f.pubKeyData), Mainnet, ErrWrongDepth},

		{"one character changed", string(oneCharChanged), Mainnet, ErrChecksum},
		{"last character changed", f.zpub[:len(f.zpub)-1] + map[bool]string{true: "T", false: "S"}[strings.HasSuffix(f.zpub, "S")], Mainnet, ErrChecksum},

		{"ypub (BIP49)", withVersion(t, acctPub, v(0x04, 0x9d, 0x7c, 0xb2)), Mainnet, ErrUnsupportedVersion},
		{"upub (BIP49)", withVersion(t, acctPub, v(0x04, 0x4a, 0x52, 0x62)), Testnet, ErrUnsupportedVersion},
		{"ypub on regtest", withVersion(t, acctPub, v(0x04, 0x9d, 0x7c, 0xb2)), Regtest, ErrUnsupportedVersion},
		{"Zpub multisig", withVersion(t, acctPub, v(0x02, 0xaa, 0x7e, 0xd3)), Mainnet, ErrUnsupportedVersion},
		{"unknown version", rawKey([4]byte{0xde, 0xad, 0xbe, 0xef}, 3, f.pubKeyData), Mainnet, ErrUnsupportedVersion},

		{"empty", "", Mainnet, ErrMalformed},
		{"only space", " \t\n", Mainnet, ErrMalformed},
		{"garbage", "hello, this is not a key", Mainnet, ErrMalformed},
		{"non-base58 characters", strings.Repeat("0OIl", 28)[:111], Mainnet, ErrMalformed},
		{"truncated zpub", f.zpub[:100], Mainnet, ErrMalformed},
		{"zpub with extra character", f.zpub + "z", Mainnet, ErrMalformed},
		{"bitcoin address", bip84Recv0, Mainnet, ErrMalformed},
		{"key data not a curve point", rawKey(zpubVersion, 3, badPoint), Mainnet, ErrMalformed},

		{"unknown network", f.zpub, "litecoin", ErrUnknownNetwork},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.in, tc.net)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if k.String() != strings.TrimSpace(tc.in) || k.Network() != tc.net {
					t.Errorf("String() / Network() do not return the key and network as given")
				}
				if _, err := k.Address(0); err != nil {
					t.Errorf("Address(0): %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			for _, s := range parseSentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error also wraps %v", s)
				}
			}
			// A client sees this message: it must not echo the key.
			if in := strings.TrimSpace(tc.in); len(in) >= 12 && strings.Contains(err.Error(), in[:12]) {
				t.Errorf("message echoes the input: %v", err)
			}
			if tc.want == ErrPrivateKey {
				msg := err.Error()
				if !strings.Contains(msg, "public key") || !strings.Contains(msg, "never holds private keys") {
					t.Errorf("private-key refusal does not tell the merchant what to do: %v", msg)
				}
			}
		})
	}
}

// TestKindNames checks the version table against what the version bytes
// really serialize to, so a typo in a version constant cannot hide.
func TestKindNames(t *testing.T) {
	f := newFixtures(t)
	for version, kind := range kinds {
		data := f.pubKeyData
		if kind.private {
			pk, _ := f.acctPriv.ECPrivKey()
			data = append([]byte{0}, pk.Serialize()...)
		}
		if s := rawKey(version, 3, data); !strings.HasPrefix(s, kind.name) {
			t.Errorf("version %x serializes as %.4s…, table says %s", version, s, kind.name)
		}
	}
}

func TestParseNetwork(t *testing.T) {
	tests := []struct {
		in      string
		want    Network
		wantErr bool
	}{
		{"mainnet", Mainnet, false},
		{"testnet", Testnet, false},
		{"signet", Signet, false},
		{"regtest", Regtest, false},
		{" Regtest\n", Regtest, false},
		{"", "", true},
		{"main", "", true},
		{"testnet3", "", true},
		{"litecoin", "", true},
	}
	for _, tc := range tests {
		got, err := ParseNetwork(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseNetwork(%q) = %q, %v", tc.in, got, err)
		}
		if tc.wantErr && !errors.Is(err, ErrUnknownNetwork) {
			t.Errorf("ParseNetwork(%q) error %v does not wrap ErrUnknownNetwork", tc.in, err)
		}
	}
	for _, n := range []Network{Mainnet, Testnet, Signet, Regtest} {
		if n.Params() == nil {
			t.Errorf("%s has no params", n)
		}
		if n.IsTest() != (n != Mainnet) {
			t.Errorf("%s.IsTest() = %v", n, n.IsTest())
		}
	}
	if Network("bogus").Params() != nil {
		t.Errorf("unknown network has params")
	}
}
