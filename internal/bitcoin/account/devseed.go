package account

// This file is for tests and the developer sandbox only: it handles private
// keys, which the gateway itself never holds. Production code paths must not
// call anything here; the sandbox uses it to pay its own regtest invoices.

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
)

// DeriveAccountFromSeed derives the BIP84 account m/84'/coin'/account' from
// a BIP32 seed (16 to 64 bytes; for a BIP39 mnemonic, the PBKDF2 output).
// coin is 0 on Mainnet and 1 on test networks. It returns the account's
// extended private key (serialized with the network's xprv/tprv version)
// and its public key serialized as a zpub (Mainnet) or vpub (test
// networks), which ParseKey accepts.
//
// For tests and the developer sandbox only; the gateway never holds private
// keys. Errors: ErrUnknownNetwork, an account >= 2^31, or a seed hdkeychain
// rejects (wrong length or, with odds below 2^-127, unusable).
func DeriveAccountFromSeed(seed []byte, net Network, account uint32) (*hdkeychain.ExtendedKey, string, error) {
	if !net.valid() {
		return nil, "", fmt.Errorf("account: %w", ErrUnknownNetwork)
	}
	if account >= hdkeychain.HardenedKeyStart {
		return nil, "", fmt.Errorf("account: account number %d: %w", account, ErrIndexOutOfRange)
	}
	key, err := hdkeychain.NewMaster(seed, net.Params())
	if err != nil {
		return nil, "", fmt.Errorf("account: master key: %w", err)
	}
	for _, i := range []uint32{84, net.coinType(), account} {
		if key, err = key.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			return nil, "", fmt.Errorf("account: derive: %w", err)
		}
	}
	pub, err := key.Neuter()
	if err != nil {
		return nil, "", fmt.Errorf("account: neuter: %w", err)
	}
	version := zpubVersion
	if net.IsTest() {
		version = vpubVersion
	}
	pub, err = pub.CloneWithVersion(version[:])
	if err != nil {
		return nil, "", fmt.Errorf("account: %w", err)
	}
	return key, pub.String(), nil
}

// PrivateKeyFor returns the private key of external address index
// (m/…/0/index) below an account private key from DeriveAccountFromSeed; its
// public key pays to Key.Address(index) of the matching public key.
//
// For tests and the developer sandbox only. Errors: accountPriv is nil or a
// public key, index >= 2^31 (ErrIndexOutOfRange), or an unusable index
// (ErrUnusableIndex).
func PrivateKeyFor(accountPriv *hdkeychain.ExtendedKey, index uint32) (*btcec.PrivateKey, error) {
	if accountPriv == nil || !accountPriv.IsPrivate() {
		return nil, errors.New("account: PrivateKeyFor needs an extended private key")
	}
	if index >= hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("account: index %d: %w", index, ErrIndexOutOfRange)
	}
	external, err := accountPriv.Derive(0)
	if err != nil {
		return nil, fmt.Errorf("account: index %d: %w: %w", index, ErrUnusableIndex, err)
	}
	child, err := external.Derive(index)
	if err != nil {
		return nil, fmt.Errorf("account: index %d: %w: %w", index, ErrUnusableIndex, err)
	}
	return child.ECPrivKey()
}
