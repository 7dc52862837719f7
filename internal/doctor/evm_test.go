package doctor

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/config"
)

func TestCheckEVM(t *testing.T) {
	ok := func(context.Context) (string, error) { return "evm-dev at block 3", nil }
	wrongChain := func(context.Context) (string, error) { return "", errors.New("the node serves chain id 5, not 1") }
	tests := []struct {
		name string
		cfg  config.EVM
		node func(context.Context) (string, error)
		want Status
	}{
		{"no node configured", config.EVM{}, ok, Skip},
		{"node not checked", config.EVM{RPCURL: "http://127.0.0.1:8545"}, nil, Skip},
		{"wrong chain", config.EVM{RPCURL: "http://127.0.0.1:8545", Factory: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, wrongChain, Fail},
		{"no factory", config.EVM{RPCURL: "http://127.0.0.1:8545"}, ok, Fail},
		{"all set", config.EVM{RPCURL: "http://127.0.0.1:8545", Factory: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, ok, Pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := checkEVM(context.Background(), &Input{Config: &config.Config{EVM: tc.cfg}, EVM: tc.node})
			if r.Status != tc.want {
				t.Errorf("status %s (%s), want %s", r.Status, r.Detail, tc.want)
			}
			if r.Status == Fail && r.Fix == "" {
				t.Error("a failure without a fix")
			}
		})
	}
}

func TestCheckEVMSweep(t *testing.T) {
	cfg := config.EVM{RPCURL: "http://127.0.0.1:8545", Network: "ethereum", Factory: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}
	eth := func(milli int64) *big.Int { return new(big.Int).Mul(big.NewInt(milli), big.NewInt(1e15)) }
	facts := func(mod func(*EVMSweepFacts)) func(context.Context) ([]EVMSweepFacts, error) {
		f := EVMSweepFacts{Factory: cfg.Factory, FactoryDeployed: true, GasKeySet: true, GasAddress: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
			GasBalance: eth(1000), MinBalance: eth(500), Interval: time.Hour, Asset: "ETH"}
		mod(&f)
		return func(context.Context) ([]EVMSweepFacts, error) { return []EVMSweepFacts{f}, nil }
	}
	tests := []struct {
		name string
		cfg  config.EVM
		read func(context.Context) ([]EVMSweepFacts, error)
		want Status
	}{
		{"no node configured", config.EVM{}, facts(func(*EVMSweepFacts) {}), Skip},
		{"no factory configured", config.EVM{RPCURL: cfg.RPCURL}, facts(func(*EVMSweepFacts) {}), Fail},
		{"not checked", cfg, nil, Skip},
		{"node unreachable", cfg, func(context.Context) ([]EVMSweepFacts, error) { return nil, errors.New("connection refused") }, Fail},
		{"factory not deployed there", cfg, facts(func(f *EVMSweepFacts) { f.FactoryDeployed = false }), Fail},
		{"periodic sweep without a gas key", cfg, facts(func(f *EVMSweepFacts) { f.GasKeySet = false }), Fail},
		{"no gas key, manual sweeps only", cfg, facts(func(f *EVMSweepFacts) { f.GasKeySet, f.Interval = false, 0 }), Warn},
		{"gas key empty", cfg, facts(func(f *EVMSweepFacts) { f.GasBalance = new(big.Int) }), Fail},
		{"gas key below a few sweeps", cfg, facts(func(f *EVMSweepFacts) { f.GasBalance = eth(499) }), Warn},
		{"gas key at the threshold", cfg, facts(func(f *EVMSweepFacts) { f.GasBalance = eth(500) }), Pass},
		{"funded", cfg, facts(func(*EVMSweepFacts) {}), Pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := checkEVMSweep(context.Background(), &Input{Config: &config.Config{EVM: tc.cfg}, EVMSweep: tc.read})
			if r.Status != tc.want {
				t.Errorf("status %s (%s), want %s", r.Status, r.Detail, tc.want)
			}
			if (r.Status == Fail || r.Status == Warn) && r.Fix == "" {
				t.Error("a failure or warning without a fix")
			}
		})
	}
}
