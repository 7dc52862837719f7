package evmsource

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/cryptopay/cryptopay"
)

// Check verifies the node and the token registry before anything is
// credited from them: the node's chain id is the configured one (a node of
// another chain would credit payments that never reached this one), each
// token contract exists and reports the decimals its asset's amounts
// carry (a 6-decimal USDC amount read against an 18-decimal contract would
// be off by 10^12), and a token with Tether's fee switch has it off (a fee
// on transfer credits less than the log says).
func (s *Source) Check(ctx context.Context) error {
	var id hexutil.Big
	if err := s.rpc.CallContext(ctx, &id, "eth_chainId"); err != nil {
		return fmt.Errorf("eth_chainId: %w", err)
	}
	if want := new(big.Int).SetUint64(s.chain.ChainID); id.ToInt().Cmp(want) != 0 {
		return fmt.Errorf("the node serves chain id %s, not %s's %d", id.ToInt(), s.chain.Network, s.chain.ChainID)
	}
	for _, t := range s.chain.Tokens {
		cur, _ := cryptopay.LookupCurrency(t.Asset)
		got, err := s.callUint(ctx, t.Contract, "decimals()")
		if err != nil {
			return fmt.Errorf("%s contract %s: decimals(): %w", t.Asset, t.Contract.Hex(), err)
		}
		if got == nil || !got.IsInt64() || got.Int64() != int64(cur.Decimals) || t.Decimals != cur.Decimals {
			return fmt.Errorf("%s contract %s reports %v decimals; the gateway's %s amounts have %d, so it is refused", t.Asset, t.Contract.Hex(), got, t.Asset, cur.Decimals)
		}
		// Tether's contract can charge a fee per transfer; it is zero
		// today. A contract without the function simply fails the call.
		if fee, err := s.callUint(ctx, t.Contract, "basisPointsRate()"); err == nil && fee != nil && fee.Sign() != 0 {
			return fmt.Errorf("%s contract %s charges a fee on transfer (basisPointsRate %s); fee-on-transfer tokens are refused", t.Asset, t.Contract.Hex(), fee)
		}
	}
	return nil
}

// callUint calls a view function without arguments and reads one uint256.
func (s *Source) callUint(ctx context.Context, to common.Address, sig string) (*big.Int, error) {
	var out hexutil.Bytes
	msg := map[string]any{"to": to, "data": hexutil.Bytes(crypto.Keccak256([]byte(sig))[:4])}
	if err := s.rpc.CallContext(ctx, &out, "eth_call", msg, "latest"); err != nil {
		return nil, err
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("want a 32-byte answer, got %d bytes (no contract there?)", len(out))
	}
	return new(big.Int).SetBytes(out), nil
}
