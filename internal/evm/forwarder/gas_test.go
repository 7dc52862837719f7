package forwarder_test

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

// TestGasCosts measures what sweeping costs on the simulated chain (current
// fork rules) and logs it against the 21,000 gas of the customer's plain
// transfer: go test -v -run TestGasCosts ./internal/evm/forwarder/. Gas is
// deterministic, so the bounds below fail if a contract change makes
// sweeping markedly dearer.
func TestGasCosts(t *testing.T) {
	s := newShop(t)
	tokens := []common.Address{s.usdc, s.usdt}
	seq := 0
	// paid returns a fresh counterfactual address paid ETH (and, with
	// withTokens, both tokens).
	paid := func(withTokens bool) forwarder.Sweep {
		seq++
		sw := forwarder.Sweep{Receiver: s.receiver, Salt: forwarder.Salt(fmt.Sprintf("inv_gas_%d", seq))}
		deposit := forwarder.DepositAddress(s.factory, sw.Receiver, sw.Salt)
		s.send(s.payer, &deposit, ether, nil)
		if withTokens {
			s.mint(s.usdc, deposit, 10_000_000)
			s.mint(s.usdt, deposit, 10_000_000)
		}
		return sw
	}
	sweepGas := func(sweeps []forwarder.Sweep, tokens []common.Address) uint64 {
		r := s.sweep(sweeps, tokens)
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatal("sweep reverted")
		}
		return r.GasUsed
	}

	// A store's receiving address already exists and already holds each
	// token: the one-off costs of creating its account and its first token
	// balances are not part of a sweep's price.
	s.send(s.payer, &s.receiver, big.NewInt(1), nil)
	s.mint(s.usdc, s.receiver, 1)
	s.mint(s.usdt, s.receiver, 1)

	const batch = 10
	ethOnly := sweepGas([]forwarder.Sweep{paid(false)}, nil)
	withTokens := sweepGas([]forwarder.Sweep{paid(true)}, tokens)
	var many []forwarder.Sweep
	for range batch {
		many = append(many, paid(true))
	}
	batched := sweepGas(many, tokens) / batch
	// A second sweep of the deployed addresses, paid again.
	for _, sw := range many {
		deposit := forwarder.DepositAddress(s.factory, sw.Receiver, sw.Salt)
		s.send(s.payer, &deposit, big.NewInt(1), nil)
		s.mint(s.usdc, deposit, 1)
		s.mint(s.usdt, deposit, 1)
	}
	again := sweepGas(many, tokens) / batch

	for _, m := range []struct {
		name  string
		gas   uint64
		limit uint64
	}{
		{"deploy-and-flush, 1 address, ETH only", ethOnly, 90_000},
		{"deploy-and-flush, 1 address, ETH + 2 tokens", withTokens, 140_000},
		{fmt.Sprintf("deploy-and-flush, %d addresses, ETH + 2 tokens, per address", batch), batched, 90_000},
		{fmt.Sprintf("flush again (deployed), %d addresses, ETH + 2 tokens, per address", batch), again, 65_000},
	} {
		t.Logf("%-70s %7d gas = %5.2f × a plain transfer", m.name, m.gas, float64(m.gas)/21000)
		if m.gas > m.limit {
			t.Errorf("%s: %d gas, above the %d this design should cost", m.name, m.gas, m.limit)
		}
	}
}
