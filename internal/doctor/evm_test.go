package doctor

import (
	"context"
	"errors"
	"testing"

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
