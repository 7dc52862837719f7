// Package account turns a merchant's BIP84 account extended public key
// (zpub or xpub on mainnet, vpub or tpub on test networks) into native
// segwit (P2WPKH, bc1q…) deposit addresses on the key's external chain,
// m/84'/coin'/account'/0/i.
//
// It is not a wallet: it never accepts or stores a private key (ParseKey
// refuses them), does not track which indexes are used, and performs no I/O.
// DeriveAccountFromSeed and PrivateKeyFor exist for tests and the developer
// sandbox only.
package account

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/address/v2/base58"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// Errors returned by ParseKey, always wrapped with a detail a merchant can
// act on; test with errors.Is. No message ever contains the key itself, so
// messages may be shown to the client that submitted the key.
var (
	// ErrPrivateKey: the input is an extended private key (xprv, zprv,
	// tprv, vprv, yprv, uprv, …) or carries private key material.
	ErrPrivateKey = errors.New("extended private key refused")
	// ErrChecksum: the base58 checksum does not match (typo or truncation).
	ErrChecksum = errors.New("extended key checksum mismatch")
	// ErrWrongNetwork: a mainnet key on a test network or the reverse.
	ErrWrongNetwork = errors.New("extended key is for another network")
	// ErrWrongDepth: the key is not at the BIP84 account level (depth 3).
	ErrWrongDepth = errors.New("extended key is not an account-level key")
	// ErrUnsupportedVersion: well formed, but a kind of key the gateway
	// does not derive addresses from (ypub/upub for BIP49, multisig keys,
	// unknown version bytes).
	ErrUnsupportedVersion = errors.New("unsupported extended key type")
	// ErrMalformed: empty, not base58, wrong length, or key data that is
	// not a valid secp256k1 public key.
	ErrMalformed = errors.New("not an extended public key")
)

// Errors returned by Key.Address.
var (
	// ErrIndexOutOfRange: the index is hardened (>= 2^31); deposit
	// addresses use non-hardened indexes only, since a public key cannot
	// derive hardened children.
	ErrIndexOutOfRange = errors.New("address index out of range (must be below 2^31)")
	// ErrUnusableIndex: BIP32 says this index yields no valid key (odds
	// below 1 in 2^127). The caller should skip to the next index.
	ErrUnusableIndex = errors.New("address index yields no valid key; skip it")
)

// accountDepth is the depth of m/84'/coin'/account'.
const accountDepth = 3

// serializedLen is the length of a decoded extended key: version (4),
// depth (1), parent fingerprint (4), child number (4), chain code (32),
// key data (33), checksum (4).
const serializedLen = 82

// keyKind describes one SLIP-132 version prefix.
type keyKind struct {
	name      string // the base58 prefix the version produces, e.g. "zpub"
	private   bool
	mainnet   bool
	supported bool   // an account public key we derive P2WPKH addresses from
	why       string // for unsupported public kinds: what to do instead
}

const (
	bip49Why    = "it is a BIP49 (nested segwit, 3… / 2… addresses) key; the gateway derives BIP84 native segwit addresses: export the BIP84 account key (m/84'/coin'/account') instead"
	multisigWhy = "it is a multisig key; the gateway derives single-key BIP84 addresses: export a single-signature BIP84 account key instead"
)

// kinds maps version bytes to what they mean (SLIP-0132). Private kinds are
// listed so they are refused by name with ErrPrivateKey.
var kinds = map[[4]byte]keyKind{
	{0x04, 0x88, 0xb2, 0x1e}: {name: "xpub", mainnet: true, supported: true},
	{0x04, 0x88, 0xad, 0xe4}: {name: "xprv", private: true, mainnet: true},
	{0x04, 0x9d, 0x7c, 0xb2}: {name: "ypub", mainnet: true, why: bip49Why},
	{0x04, 0x9d, 0x78, 0x78}: {name: "yprv", private: true, mainnet: true},
	{0x04, 0xb2, 0x47, 0x46}: {name: "zpub", mainnet: true, supported: true},
	{0x04, 0xb2, 0x43, 0x0c}: {name: "zprv", private: true, mainnet: true},
	{0x02, 0x95, 0xb4, 0x3f}: {name: "Ypub", mainnet: true, why: multisigWhy},
	{0x02, 0x95, 0xb0, 0x05}: {name: "Yprv", private: true, mainnet: true},
	{0x02, 0xaa, 0x7e, 0xd3}: {name: "Zpub", mainnet: true, why: multisigWhy},
	{0x02, 0xaa, 0x7a, 0x99}: {name: "Zprv", private: true, mainnet: true},
	{0x04, 0x35, 0x87, 0xcf}: {name: "tpub", supported: true},
	{0x04, 0x35, 0x83, 0x94}: {name: "tprv", private: true},
	{0x04, 0x4a, 0x52, 0x62}: {name: "upub", why: bip49Why},
	{0x04, 0x4a, 0x4e, 0x28}: {name: "uprv", private: true},
	{0x04, 0x5f, 0x1c, 0xf6}: {name: "vpub", supported: true},
	{0x04, 0x5f, 0x18, 0xbc}: {name: "vprv", private: true},
	{0x02, 0x42, 0x89, 0xef}: {name: "Upub", why: multisigWhy},
	{0x02, 0x42, 0x85, 0xb5}: {name: "Uprv", private: true},
	{0x02, 0x57, 0x54, 0x83}: {name: "Vpub", why: multisigWhy},
	{0x02, 0x57, 0x50, 0x48}: {name: "Vprv", private: true},
}

// zpubVersion and vpubVersion serialize BIP84 account public keys.
var (
	zpubVersion = [4]byte{0x04, 0xb2, 0x47, 0x46}
	vpubVersion = [4]byte{0x04, 0x5f, 0x1c, 0xf6}
)

// privateRefusal builds the ErrPrivateKey error. The advice matters more
// than the classification: a merchant who pastes an xprv must learn to
// paste the public key, and that the gateway will not keep the secret.
func privateRefusal(kind string, net Network) error {
	pub := "zpub or xpub"
	if net.IsTest() {
		pub = "vpub or tpub"
	}
	return fmt.Errorf("%w: this is an extended private key (%s); paste the account's extended public key (%s) instead: the gateway never holds private keys and did not store this one",
		ErrPrivateKey, kind, pub)
}

// Key is a parsed BIP84 account public key. It is immutable and safe for
// concurrent use.
type Key struct {
	text        string
	net         Network
	params      *chaincfg.Params
	fingerprint string
	external    *hdkeychain.ExtendedKey // m/84'/coin'/account'/0, derived once
	// The external chain key taken apart once, so that an address costs one
	// child derivation and nothing more: hdkeychain's Derive decompresses
	// the parent's public key (a square root) on every call.
	extPub   [33]byte            // serP(K), the compressed public key
	extPoint btcec.JacobianPoint // K as a point
	extChain []byte              // its chain code
}

// ParseKey parses a BIP84 account extended public key for net. Surrounding
// white space is ignored. Accepted: xpub and zpub on Mainnet; tpub and vpub
// on Testnet, Signet and Regtest; the key must be at depth 3
// (m/84'/coin'/account'). Both spellings of a key yield the same addresses.
//
// Errors wrap exactly one of ErrPrivateKey, ErrChecksum, ErrWrongNetwork,
// ErrWrongDepth, ErrUnsupportedVersion, ErrMalformed (or ErrUnknownNetwork
// for a bad net). Messages never contain the input, but callers must not log
// the input of a failed parse either: it may be a private key.
func ParseKey(s string, net Network) (*Key, error) {
	if !net.valid() {
		return nil, fmt.Errorf("account: %w", ErrUnknownNetwork)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: the key is empty", ErrMalformed)
	}
	// A truncated or mistyped private key still announces itself by its
	// prefix; refuse it as a private key rather than as a malformed one.
	if len(s) >= 4 {
		for _, k := range kinds {
			if k.private && s[:4] == k.name {
				return nil, privateRefusal(k.name, net)
			}
		}
	}

	raw := base58.Decode(s) // empty on any non-base58 character
	if len(raw) != serializedLen {
		return nil, fmt.Errorf("%w: expected a 111-character base58 extended key such as a zpub", ErrMalformed)
	}
	payload, sum := raw[:78], raw[78:]
	first := sha256.Sum256(payload)
	second := sha256.Sum256(first[:])
	if !bytes.Equal(second[:4], sum) {
		return nil, fmt.Errorf("%w: the key was mistyped or truncated; copy it again from the wallet", ErrChecksum)
	}

	version := [4]byte(payload[:4])
	depth := payload[4]
	parentFP := payload[5:9]
	childNum := uint32(payload[9])<<24 | uint32(payload[10])<<16 | uint32(payload[11])<<8 | uint32(payload[12])
	chainCode := payload[13:45]
	keyData := payload[45:78]

	kind, known := kinds[version]
	// Key data starting with 0x00 is a private key whatever the version
	// bytes claim.
	if kind.private || keyData[0] == 0x00 {
		name := kind.name
		if !kind.private {
			name = "private key data"
		}
		return nil, privateRefusal(name, net)
	}
	if !known {
		return nil, fmt.Errorf("%w: unrecognised version bytes; paste a zpub or xpub (mainnet) or vpub or tpub (test networks)", ErrUnsupportedVersion)
	}
	if !kind.supported {
		return nil, fmt.Errorf("%w: %s refused: %s", ErrUnsupportedVersion, kind.name, kind.why)
	}
	if kind.mainnet != (net == Mainnet) {
		keyNet := "a test network"
		if kind.mainnet {
			keyNet = "mainnet"
		}
		return nil, fmt.Errorf("%w: a %s is a key for %s but this gateway runs on %s", ErrWrongNetwork, kind.name, keyNet, net)
	}
	if depth != accountDepth {
		return nil, fmt.Errorf("%w: the key has depth %d, but a BIP84 account key (m/84'/coin'/account') has depth 3; export the account key, not the master key or a key below the account", ErrWrongDepth, depth)
	}
	if _, err := btcec.ParsePubKey(keyData); err != nil {
		return nil, fmt.Errorf("%w: the key data is not a valid secp256k1 public key", ErrMalformed)
	}

	acct := hdkeychain.NewExtendedKey(version[:], bytes.Clone(keyData), bytes.Clone(chainCode),
		bytes.Clone(parentFP), depth, childNum, false)
	external, err := acct.Derive(0)
	if err != nil {
		// Only ErrInvalidChild is possible here (odds below 2^-127); a wallet
		// could not use this account either.
		return nil, fmt.Errorf("%w: the key's receive chain is unusable", ErrMalformed)
	}
	pub, err := external.ECPubKey()
	if err != nil {
		return nil, fmt.Errorf("%w: the key's receive chain is unusable", ErrMalformed)
	}
	k := &Key{
		text:        s,
		net:         net,
		params:      net.Params(),
		fingerprint: hex.EncodeToString(address.Hash160(keyData)[:4]),
		external:    external,
		extChain:    external.ChainCode(),
	}
	copy(k.extPub[:], pub.SerializeCompressed())
	pub.AsJacobian(&k.extPoint)
	return k, nil
}

// String returns the key as given to ParseKey (without surrounding space),
// suitable for storage: ParseKey(k.String(), k.Network()) yields the same key.
func (k *Key) String() string { return k.text }

// Network returns the network the key was parsed for.
func (k *Key) Network() Network { return k.net }

// Fingerprint returns the key's BIP32 fingerprint (first 4 bytes of the
// hash160 of its public key) as 8 hex digits. It identifies the key in logs
// and support conversations without revealing it, and matches the "parent
// fingerprint" wallets show for the key's children.
func (k *Key) Fingerprint() string { return k.fingerprint }

// Address is one P2WPKH deposit address.
type Address struct {
	// String is the bech32 address shown to the customer (bc1q…, tb1q…,
	// bcrt1q…).
	String string
	// Script is the output script: OP_0 <20-byte program>.
	Script []byte
	// Program is the 20-byte witness program (hash160 of the public key),
	// the value the chain tracker watches.
	Program chain.Key
}

// Address returns the deposit address at index on the external chain,
// m/84'/coin'/account'/0/index. It costs one public child derivation.
//
// Errors: ErrIndexOutOfRange for index >= 2^31; ErrUnusableIndex (skip to
// the next index) in the astronomically rare case BIP32 defines no key.
func (k *Key) Address(index uint32) (Address, error) {
	if index >= hdkeychain.HardenedKeyStart {
		return Address{}, fmt.Errorf("account: index %d: %w", index, ErrIndexOutOfRange)
	}
	pub, err := k.childPubKey(index)
	if err != nil {
		return Address{}, fmt.Errorf("account: index %d: %w: %w", index, ErrUnusableIndex, err)
	}
	var a Address
	copy(a.Program[:], address.Hash160(pub[:]))
	wa, err := address.NewAddressWitnessPubKeyHash(a.Program[:], k.params)
	if err != nil {
		return Address{}, fmt.Errorf("account: %w", err)
	}
	a.String = wa.EncodeAddress()
	a.Script = append([]byte{0x00, 0x14}, a.Program[:]...)
	return a, nil
}

// childPubKey is BIP32's public child derivation CKDpub of the external
// chain key at a non-hardened index, as hdkeychain's Derive computes it
// (TestChildPubKeyMatchesHDKeychain), from the parent taken apart once:
// I = HMAC-SHA512(c, serP(K) || ser32(i)); K_i = point(I_L) + K.
func (k *Key) childPubKey(index uint32) ([33]byte, error) {
	var data [37]byte
	copy(data[:33], k.extPub[:])
	binary.BigEndian.PutUint32(data[33:], index)
	mac := hmac.New(sha512.New, k.extChain)
	_, _ = mac.Write(data[:])
	il := mac.Sum(nil)[:32]
	var ilScalar btcec.ModNScalar
	if overflow := ilScalar.SetByteSlice(il); overflow {
		return [33]byte{}, hdkeychain.ErrInvalidChild
	}
	var ilJ, child btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&ilScalar, &ilJ)
	if (ilJ.X.IsZero() && ilJ.Y.IsZero()) || ilJ.Z.IsZero() {
		return [33]byte{}, hdkeychain.ErrInvalidChild
	}
	btcec.AddNonConst(&ilJ, &k.extPoint, &child)
	if (child.X.IsZero() && child.Y.IsZero()) || child.Z.IsZero() {
		return [33]byte{}, hdkeychain.ErrInvalidChild // the point at infinity: no key
	}
	child.ToAffine()
	var out [33]byte
	copy(out[:], btcec.NewPublicKey(&child.X, &child.Y).SerializeCompressed())
	return out, nil
}

// p2wpkh returns the native segwit address of an extended key's public key.
func p2wpkh(ek *hdkeychain.ExtendedKey, params *chaincfg.Params) (Address, error) {
	// ExtendedKey.Address hashes the serialized public key without parsing
	// it back into a curve point; only its hash is needed here.
	pkh, err := ek.Address(params)
	if err != nil {
		return Address{}, fmt.Errorf("account: %w", err)
	}
	var a Address
	copy(a.Program[:], pkh.Hash160()[:])
	wa, err := address.NewAddressWitnessPubKeyHash(a.Program[:], params)
	if err != nil {
		return Address{}, fmt.Errorf("account: %w", err)
	}
	a.String = wa.EncodeAddress()
	a.Script = append([]byte{0x00, 0x14}, a.Program[:]...)
	return a, nil
}
