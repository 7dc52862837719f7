package config

import (
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/cryptopay/cryptopay"
)

// EVMSweep configures sweeping EVM deposit addresses (internal/evm/sweep):
// the gas key that pays for it and the policy that says when it is worth it.
type EVMSweep struct {
	// GasKeyFile is the file holding the operator's gas key; the key itself
	// is read only when a sweep needs it.
	GasKeyFile string
	// Interval between periodic sweeps in serve; zero runs none.
	Interval time.Duration
	// MaxGasPrice is the gas-price ceiling in wei per gas.
	MaxGasPrice *big.Int
	// MinWei is the smallest ether balance worth sweeping, in wei.
	MinWei *big.Int
	// MinToken is the smallest token balance worth sweeping, in whole
	// tokens as a decimal string; each token applies its own decimals.
	MinToken string
	// BatchSize is the number of addresses per sweep transaction.
	BatchSize int
	// MinGasBalance is the gas key balance, in wei, below which doctor
	// warns; nil derives it (MinGasBalanceOr).
	MinGasBalance *big.Int
}

// sweepGasPerAddress bounds what one address of a batched deploy-and-flush
// costs, ether and two tokens (internal/evm/forwarder's TestGasCosts keeps
// the contracts under it).
const sweepGasPerAddress = 90_000

// MinGasBalanceOr returns MinGasBalance, or three full batches at the
// gas-price ceiling: the fees a few sweeps can cost at worst.
func (s EVMSweep) MinGasBalanceOr() *big.Int {
	if s.MinGasBalance != nil {
		return s.MinGasBalance
	}
	v := big.NewInt(3 * sweepGasPerAddress * int64(s.BatchSize))
	return v.Mul(v, s.MaxGasPrice)
}

var evmSweepVars = []Var{
	{"CRYPTOPAY_EVM_GAS_KEY_FILE", "", "File (mode 0600 or stricter, else refused) holding the operator's EVM gas key as 64 hex digits: it pays sweep fees and should hold only fees. It can make deposit addresses pay out to their stores' receiving addresses, never anywhere else."},
	{"CRYPTOPAY_EVM_SWEEP_INTERVAL", "", "Period of the periodic sweeper (at least 1m, e.g. 1h); unset or 0 sweeps only on `cryptopay eth sweep`. With a gas key set, serve runs it on one instance at a time (a lease, as the watchers), over the addresses of invoices watched now or within two periods."},
	{"CRYPTOPAY_EVM_SWEEP_MAX_GAS_PRICE", "50", "Gas-price ceiling for sweeps, in gwei (decimal, e.g. 0.5): a sweep waits while base fee plus tip is above it, and never pays more."},
	{"CRYPTOPAY_EVM_SWEEP_MIN_ETH", "0.005", "Smallest ether balance, in ETH, that makes a deposit address worth sweeping (an address is swept when any asset reaches its minimum, and then everything in it moves)."},
	{"CRYPTOPAY_EVM_SWEEP_MIN_TOKEN", "1", "Smallest token balance, in whole tokens (e.g. 1 = 1 USDC), that makes a deposit address worth sweeping."},
	{"CRYPTOPAY_EVM_SWEEP_BATCH", "50", "Deposit addresses swept per transaction (1-200)."},
	{"CRYPTOPAY_EVM_GAS_KEY_MIN_BALANCE", "<3 sweeps>", "Gas key balance, in ETH, below which doctor warns (it fails at zero). Default: three full batches at the gas-price ceiling (3 × batch × 90,000 gas × ceiling)."},
}

// LoadEVMSweep reads the sweep settings from getenv and the optional
// config file, as Load does. Kept apart from Load so that only the commands
// that sweep ask for them.
func LoadEVMSweep(getenv func(string) string) (EVMSweep, error) {
	getenv, err := withFile(getenv)
	if err != nil {
		return EVMSweep{}, err
	}
	get := func(name, def string) string { return or(getenv(name), def) }
	s := EVMSweep{GasKeyFile: getenv("CRYPTOPAY_EVM_GAS_KEY_FILE"), MinToken: get("CRYPTOPAY_EVM_SWEEP_MIN_TOKEN", "1")}
	if v := getenv("CRYPTOPAY_EVM_SWEEP_INTERVAL"); v != "" {
		if s.Interval, err = time.ParseDuration(v); err != nil || s.Interval < 0 {
			return s, fmt.Errorf("CRYPTOPAY_EVM_SWEEP_INTERVAL: want a duration such as 1h, have %q", v)
		}
		if s.Interval > 0 && s.Interval < time.Minute {
			return s, fmt.Errorf("CRYPTOPAY_EVM_SWEEP_INTERVAL: %s is shorter than a minute; sweeping is not urgent", s.Interval)
		}
	}
	if s.MaxGasPrice, err = cryptopay.ParseAmount("CRYPTOPAY_EVM_SWEEP_MAX_GAS_PRICE", get("CRYPTOPAY_EVM_SWEEP_MAX_GAS_PRICE", "50"), 9); err != nil {
		return s, err
	}
	if s.MinWei, err = cryptopay.ParseAmount("CRYPTOPAY_EVM_SWEEP_MIN_ETH", get("CRYPTOPAY_EVM_SWEEP_MIN_ETH", "0.005"), 18); err != nil {
		return s, err
	}
	if _, err = cryptopay.ParseAmount("CRYPTOPAY_EVM_SWEEP_MIN_TOKEN", s.MinToken, 6); err != nil {
		return s, err
	}
	if v := getenv("CRYPTOPAY_EVM_GAS_KEY_MIN_BALANCE"); v != "" {
		if s.MinGasBalance, err = cryptopay.ParseAmount("CRYPTOPAY_EVM_GAS_KEY_MIN_BALANCE", v, 18); err != nil {
			return s, err
		}
	}
	batch := get("CRYPTOPAY_EVM_SWEEP_BATCH", "50")
	if s.BatchSize, err = strconv.Atoi(batch); err != nil || s.BatchSize < 1 || s.BatchSize > 200 {
		return s, fmt.Errorf("CRYPTOPAY_EVM_SWEEP_BATCH: want a whole number from 1 to 200, have %q", batch)
	}
	return s, nil
}
