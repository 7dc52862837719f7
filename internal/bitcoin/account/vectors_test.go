package account

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/txscript/v2"
)

// The BIP84 test vectors (bips/bip-0084.mediawiki, "Test vectors").
const (
	bip84Mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	bip84Zprv     = "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE"
	bip84Zpub     = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
	bip84Recv0    = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
	bip84Recv0Pub = "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c"
	bip84Recv0WIF = "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d"
	bip84Recv1    = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
	bip84Change0  = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
)

// bip84Seed is the BIP39 seed of the BIP84 mnemonic with an empty
// passphrase: PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic".
func bip84Seed(tb testing.TB) []byte {
	tb.Helper()
	seed, err := pbkdf2.Key(sha512.New, bip84Mnemonic, []byte("mnemonic"), 2048, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return seed
}

func mustParse(tb testing.TB, s string, net Network) *Key {
	tb.Helper()
	k, err := ParseKey(s, net)
	if err != nil {
		tb.Fatalf("ParseKey(%.8s…, %s): %v", s, net, err)
	}
	return k
}

func mustAddress(tb testing.TB, k *Key, i uint32) Address {
	tb.Helper()
	a, err := k.Address(i)
	if err != nil {
		tb.Fatalf("Address(%d): %v", i, err)
	}
	return a
}

// withVersion re-serializes an extended key under other version bytes.
func withVersion(tb testing.TB, ek *hdkeychain.ExtendedKey, version [4]byte) string {
	tb.Helper()
	c, err := ek.CloneWithVersion(version[:])
	if err != nil {
		tb.Fatal(err)
	}
	return c.String()
}

func TestBIP84Vectors(t *testing.T) {
	priv, pub, err := DeriveAccountFromSeed(bip84Seed(t), Mainnet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pub != bip84Zpub {
		t.Errorf("account zpub = %s, want %s", pub, bip84Zpub)
	}
	if got := withVersion(t, priv, [4]byte{0x04, 0xb2, 0x43, 0x0c}); got != bip84Zprv {
		t.Errorf("account zprv does not match the vector")
	}

	k := mustParse(t, bip84Zpub, Mainnet)
	for i, want := range []string{bip84Recv0, bip84Recv1} {
		a := mustAddress(t, k, uint32(i))
		if a.String != want {
			t.Errorf("receive address %d = %s, want %s", i, a.String, want)
		}
		// Script and Program must agree with btcd's own decoding of the
		// address, since the tracker matches outputs by them.
		decoded, err := address.DecodeAddress(want, Mainnet.Params())
		if err != nil {
			t.Fatal(err)
		}
		script, err := txscript.PayToAddrScript(decoded)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Script, script) {
			t.Errorf("address %d script = %x, want %x", i, a.Script, script)
		}
		if !bytes.Equal(a.Program[:], decoded.ScriptAddress()) {
			t.Errorf("address %d program = %x, want %x", i, a.Program, decoded.ScriptAddress())
		}
	}

	// The change chain is not part of the API; derive it the same way to
	// check the encoding against the vector's change address.
	acct, err := hdkeychain.NewKeyFromString(bip84Zpub)
	if err != nil {
		t.Fatal(err)
	}
	change, err := acct.Derive(1)
	if err == nil {
		change, err = change.Derive(0)
	}
	if err != nil {
		t.Fatal(err)
	}
	if a, err := p2wpkh(change, Mainnet.Params()); err != nil || a.String != bip84Change0 {
		t.Errorf("change address 0 = %q, %v; want %s", a.String, err, bip84Change0)
	}

	// The sandbox's signing key for index 0 is the vector's.
	pk, err := PrivateKeyFor(priv, 0)
	if err != nil {
		t.Fatal(err)
	}
	wif, err := btcutil.NewWIF(pk, Mainnet.Params(), true)
	if err != nil {
		t.Fatal(err)
	}
	if wif.String() != bip84Recv0WIF {
		t.Errorf("private key for index 0 does not match the vector's WIF")
	}
	if got := hex.EncodeToString(pk.PubKey().SerializeCompressed()); got != bip84Recv0Pub {
		t.Errorf("public key for index 0 = %s, want %s", got, bip84Recv0Pub)
	}
}

func TestXpubFormGivesSameAddresses(t *testing.T) {
	acct, err := hdkeychain.NewKeyFromString(bip84Zpub)
	if err != nil {
		t.Fatal(err)
	}
	xpub := withVersion(t, acct, [4]byte{0x04, 0x88, 0xb2, 0x1e})
	if !strings.HasPrefix(xpub, "xpub") {
		t.Fatalf("re-serialized key %.8s… is not an xpub", xpub)
	}
	z, x := mustParse(t, bip84Zpub, Mainnet), mustParse(t, xpub, Mainnet)
	if x.String() != xpub || z.String() != bip84Zpub {
		t.Errorf("String() does not return the key as given")
	}
	if x.Fingerprint() != z.Fingerprint() {
		t.Errorf("fingerprints differ: %s vs %s", x.Fingerprint(), z.Fingerprint())
	}
	for i := range uint32(20) {
		if a, b := mustAddress(t, z, i), mustAddress(t, x, i); a.String != b.String {
			t.Errorf("index %d: zpub gives %s, xpub gives %s", i, a.String, b.String)
		}
	}
}

func TestFingerprint(t *testing.T) {
	k := mustParse(t, bip84Zpub, Mainnet)
	// The account key's fingerprint is the parent fingerprint of its
	// children, which is how wallets display it.
	acct, _ := hdkeychain.NewKeyFromString(bip84Zpub)
	child, _ := acct.Derive(0)
	want := hex.EncodeToString([]byte{
		byte(child.ParentFingerprint() >> 24), byte(child.ParentFingerprint() >> 16),
		byte(child.ParentFingerprint() >> 8), byte(child.ParentFingerprint()),
	})
	if k.Fingerprint() != want || len(want) != 8 {
		t.Errorf("Fingerprint() = %s, want %s", k.Fingerprint(), want)
	}
}

func TestTestNetworkAddresses(t *testing.T) {
	_, vpub, err := DeriveAccountFromSeed(bip84Seed(t), Regtest, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vpub, "vpub") {
		t.Fatalf("regtest account key %.8s… is not a vpub", vpub)
	}
	// m/84'/1'/0'/0/0 of the BIP84 mnemonic, as testnet wallets show it.
	const testnetRecv0 = "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"
	reg := mustAddress(t, mustParse(t, vpub, Regtest), 0)
	if !strings.HasPrefix(reg.String, "bcrt1q") {
		t.Errorf("regtest address %s does not start with bcrt1q", reg.String)
	}
	for _, net := range []Network{Testnet, Signet} {
		a := mustAddress(t, mustParse(t, vpub, net), 0)
		if a.String != testnetRecv0 {
			t.Errorf("%s address 0 = %s, want %s", net, a.String, testnetRecv0)
		}
		if a.Program != reg.Program {
			t.Errorf("%s and regtest programs differ for the same key", net)
		}
	}
}

func TestAddressIndexRange(t *testing.T) {
	k := mustParse(t, bip84Zpub, Mainnet)
	if _, err := k.Address(1<<31 - 1); err != nil {
		t.Errorf("Address(2^31-1): %v", err)
	}
	for _, i := range []uint32{1 << 31, 1<<32 - 1} {
		if _, err := k.Address(i); !isErr(err, ErrIndexOutOfRange) {
			t.Errorf("Address(%d) error = %v, want ErrIndexOutOfRange", i, err)
		}
	}
}

// TestAddressConcurrent checks a Key is safe to share between goroutines
// (run with -race) and gives the same addresses as sequential use.
func TestAddressConcurrent(t *testing.T) {
	k := mustParse(t, bip84Zpub, Mainnet)
	const n = 64
	want := make([]string, n)
	for i := range want {
		want[i] = mustAddress(t, k, uint32(i)).String
	}
	var wg sync.WaitGroup
	got := make([][]string, 4)
	for g := range got {
		got[g] = make([]string, n)
		wg.Go(func() {
			for i := range n {
				if a, err := k.Address(uint32(i)); err == nil {
					got[g][i] = a.String
				}
			}
		})
	}
	wg.Wait()
	for g := range got {
		for i := range n {
			if got[g][i] != want[i] {
				t.Fatalf("goroutine %d index %d: %q, want %q", g, i, got[g][i], want[i])
			}
		}
	}
}

func TestDevHelpersRefuse(t *testing.T) {
	seed := bip84Seed(t)
	if _, _, err := DeriveAccountFromSeed(seed, "bogus", 0); !isErr(err, ErrUnknownNetwork) {
		t.Errorf("unknown network: %v", err)
	}
	if _, _, err := DeriveAccountFromSeed(seed, Mainnet, 1<<31); !isErr(err, ErrIndexOutOfRange) {
		t.Errorf("hardened account number: %v", err)
	}
	if _, _, err := DeriveAccountFromSeed(seed[:8], Mainnet, 0); err == nil {
		t.Errorf("8-byte seed accepted")
	}
	acct, _ := hdkeychain.NewKeyFromString(bip84Zpub)
	if _, err := PrivateKeyFor(acct, 0); err == nil {
		t.Errorf("PrivateKeyFor accepted a public key")
	}
	if _, err := PrivateKeyFor(nil, 0); err == nil {
		t.Errorf("PrivateKeyFor accepted nil")
	}
}

func BenchmarkAddress(b *testing.B) {
	k := mustParse(b, bip84Zpub, Mainnet)
	var i uint32
	for b.Loop() {
		if _, err := k.Address(i); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkParseKey(b *testing.B) {
	for b.Loop() {
		if _, err := ParseKey(bip84Zpub, Mainnet); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChildPubKeyMatchesHDKeychain: Address derives from the external
// chain key taken apart once (childPubKey) rather than through
// hdkeychain's Derive; both must give the same public key and address at
// every index, and index 0 the BIP84 vector's public key.
func TestChildPubKeyMatchesHDKeychain(t *testing.T) {
	_, regtestVpub, err := DeriveAccountFromSeed(bip84Seed(t), Regtest, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  string
		net  Network
	}{
		{"BIP84 zpub, mainnet", bip84Zpub, Mainnet},
		{"regtest vpub", regtestVpub, Regtest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := mustParse(t, tc.key, tc.net)
			indexes := []uint32{1<<31 - 1, 1 << 30, 123456789}
			for i := range uint32(300) {
				indexes = append(indexes, i)
			}
			for _, i := range indexes {
				got, err := k.childPubKey(i)
				if err != nil {
					t.Fatalf("index %d: %v", i, err)
				}
				child, err := k.external.Derive(i)
				if err != nil {
					t.Fatalf("index %d: hdkeychain: %v", i, err)
				}
				pub, err := child.ECPubKey()
				if err != nil {
					t.Fatal(err)
				}
				if want := pub.SerializeCompressed(); !bytes.Equal(got[:], want) {
					t.Fatalf("index %d: public key %x, hdkeychain %x", i, got, want)
				}
				a := mustAddress(t, k, i)
				want, err := p2wpkh(child, tc.net.Params())
				if err != nil {
					t.Fatal(err)
				}
				if a.String != want.String || !bytes.Equal(a.Script, want.Script) {
					t.Fatalf("index %d: address %s, through hdkeychain %s", i, a.String, want.String)
				}
			}
		})
	}
	k := mustParse(t, bip84Zpub, Mainnet)
	if pub, err := k.childPubKey(0); err != nil || hex.EncodeToString(pub[:]) != bip84Recv0Pub {
		t.Errorf("index 0 public key = %x, %v; want the vector's %s", pub, err, bip84Recv0Pub)
	}
}

// BenchmarkAddressHDKeychain is Address as it was, through hdkeychain's
// Derive (which decompresses the parent key on every call): the baseline
// BenchmarkAddress is compared with.
func BenchmarkAddressHDKeychain(b *testing.B) {
	k := mustParse(b, bip84Zpub, Mainnet)
	var i uint32
	for b.Loop() {
		child, err := k.external.Derive(i)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p2wpkh(child, k.params); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
