package sweep

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
)

// LoadGasKey reads the operator's gas key from path: a file holding one
// secp256k1 private key as 64 hex digits (an optional 0x prefix and
// surrounding whitespace are allowed). The file must be a regular file that
// neither its group nor others can read or write (mode 0600 or 0400): the
// key is only ever read from such a file, never from the database, a flag or
// the environment's value itself.
func LoadGasKey(path string) (*ecdsa.PrivateKey, error) {
	if path == "" {
		return nil, errors.New("sweep: no gas key file (CRYPTOPAY_EVM_GAS_KEY_FILE)")
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: gas key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("sweep: gas key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("sweep: gas key file %s has mode %#o; it must not be readable or writable by group or others (chmod 600)", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: gas key file: %w", err)
	}
	key, err := ParseGasKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("sweep: gas key file %s: %w", path, err)
	}
	return key, nil
}

// ParseGasKey parses a hex private key as LoadGasKey reads it. Its error
// never contains the text it was given.
func ParseGasKey(text string) (*ecdsa.PrivateKey, error) {
	s := strings.TrimSpace(text)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 64 {
		return nil, fmt.Errorf("want 64 hex digits, have %d characters", len(s))
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return nil, errors.New("not hexadecimal")
		}
	}
	key, err := crypto.HexToECDSA(s)
	if err != nil {
		return nil, errors.New("not a valid secp256k1 private key")
	}
	return key, nil
}
