package forwarder_test

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/cryptopay/cryptopay/contracts"
	"github.com/cryptopay/cryptopay/contracts/testtoken"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

func stringReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestDepositAddressMatchesDeployment computes deposit addresses off chain
// and checks them against the factory's own view and against the account
// that deploy-and-flush actually creates, whose code must be the 65-byte
// proxy to the factory's implementation with the receiver appended.
func TestDepositAddressMatchesDeployment(t *testing.T) {
	c := newChain(t)
	factory := c.deployFactory()
	if got := c.call(factory, contracts.ForwarderFactory, "implementation")[0].(common.Address); got != forwarder.Implementation(factory) {
		t.Fatalf("implementation on chain %s, computed %s", got, forwarder.Implementation(factory))
	}
	receivers := []common.Address{common.HexToAddress("0x00000000000000000000000000000000000000aa"), common.HexToAddress("0xffffffffffffffffffffffffffffffffffffff01")}
	for _, receiver := range receivers {
		for _, id := range []string{"inv_01", "inv_02", ""} {
			salt := forwarder.Salt(id)
			want := forwarder.DepositAddress(factory, receiver, salt)
			if got := c.call(factory, contracts.ForwarderFactory, "forwarderAddress", receiver, salt)[0].(common.Address); got != want {
				t.Errorf("receiver %s invoice %q: factory says %s, off chain %s", receiver, id, got, want)
			}
			data, err := forwarder.DeployAndFlushData([]forwarder.Sweep{{Receiver: receiver, Salt: salt}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := c.send(c.gas, &factory, nil, data); r.Status != types.ReceiptStatusSuccessful {
				t.Fatalf("deployAndFlush failed")
			}
			code := c.code(want)
			wantCode := forwarder.InitCode(forwarder.Implementation(factory), receiver)[10:]
			if len(code) != forwarder.ProxyCodeSize || !bytes.Equal(code, wantCode) {
				t.Errorf("code at %s = %x, want %x", want, code, wantCode)
			}
			if got := c.call(want, contracts.Forwarder, "receiver")[0].(common.Address); got != receiver {
				t.Errorf("deposit address %s reports receiver %s, want %s", want, got, receiver)
			}
		}
	}
}

// TestSaltDistinct checks the salt is the domain-separated keccak256 of the
// invoice id and differs between ids.
func TestSaltDistinct(t *testing.T) {
	a, b := forwarder.Salt("inv_a"), forwarder.Salt("inv_b")
	if a == b {
		t.Fatal("two invoices share a salt")
	}
	if want := crypto.Keccak256Hash([]byte("cryptopay/forwarder/v1:inv_a")); a != want {
		t.Fatalf("Salt = %x, want %x", a, want)
	}
}

// shop is a deployed factory, two test tokens and one store's receiver.
type shop struct {
	*chain
	factory  common.Address
	usdc     common.Address // 6 decimals, transfer returns true
	usdt     common.Address // 6 decimals, transfer returns nothing
	receiver common.Address
}

func newShop(t *testing.T) *shop {
	c := newChain(t)
	return &shop{
		chain:    c,
		factory:  c.deployFactory(),
		usdc:     c.deploy(testtoken.BoolToken),
		usdt:     c.deploy(testtoken.NoBoolToken),
		receiver: crypto.PubkeyToAddress(mustKey(t).PublicKey),
	}
}

func mustKey(t *testing.T) *ecdsaKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mint credits amount of token to addr through a Transfer, as a payer's
// token transfer would.
func (s *shop) mint(token, to common.Address, amount int64) {
	s.t.Helper()
	if r := s.send(s.payer, &token, nil, pack(s.t, testtoken.BoolToken, "mint", to, big.NewInt(amount))); r.Status != types.ReceiptStatusSuccessful {
		s.t.Fatal("mint failed")
	}
}

func (s *shop) tokenBalance(token, addr common.Address) *big.Int {
	s.t.Helper()
	return s.call(token, testtoken.BoolToken, "balanceOf", addr)[0].(*big.Int)
}

// sweep sends deployAndFlush from the gas key and returns its receipt.
func (s *shop) sweep(sweeps []forwarder.Sweep, tokens []common.Address) *types.Receipt {
	s.t.Helper()
	data, err := forwarder.DeployAndFlushData(sweeps, tokens)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.send(s.gas, &s.factory, nil, data)
}

// TestPlainTransferToCounterfactualAddress checks the customer's side: paying
// a deposit address that has no code is a plain 21,000-gas transfer.
func TestPlainTransferToCounterfactualAddress(t *testing.T) {
	s := newShop(t)
	deposit := forwarder.DepositAddress(s.factory, s.receiver, forwarder.Salt("inv_plain"))
	r := s.send(s.payer, &deposit, ether, nil)
	if r.Status != types.ReceiptStatusSuccessful || r.GasUsed != 21000 {
		t.Fatalf("plain transfer: status %d, gas %d; want success, 21000", r.Status, r.GasUsed)
	}
	if len(s.code(deposit)) != 0 {
		t.Fatal("the deposit address has code before any sweep")
	}
	if got := s.balance(deposit); got.Cmp(ether) != 0 {
		t.Fatalf("deposit balance %s, want %s", got, ether)
	}
}

// TestDeployAndFlushSendsEverythingToReceiver pays ether, a bool token and a
// USDT-like token to a counterfactual address, sweeps it with the gas key,
// pays it again after deployment and sweeps again (deployment skipped), and
// checks every unit reached the receiver and nothing reached anyone else.
func TestDeployAndFlushSendsEverythingToReceiver(t *testing.T) {
	s := newShop(t)
	salt := forwarder.Salt("inv_full")
	deposit := forwarder.DepositAddress(s.factory, s.receiver, salt)
	tokens := []common.Address{s.usdc, s.usdt}
	gasKey := crypto.PubkeyToAddress(s.gas.PublicKey)

	s.send(s.payer, &deposit, ether, nil)
	s.mint(s.usdc, deposit, 125_000_000) // 125 USDC
	s.mint(s.usdt, deposit, 40_000_001)  // 40.000001 USDT

	for round, want := range []struct{ eth, usdc, usdt *big.Int }{
		{ether, big.NewInt(125_000_000), big.NewInt(40_000_001)},
		{new(big.Int).Add(ether, big.NewInt(7)), big.NewInt(125_000_001), big.NewInt(40_000_001)},
	} {
		gasBefore := s.balance(gasKey)
		r := s.sweep([]forwarder.Sweep{{Receiver: s.receiver, Salt: salt}}, tokens)
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("round %d: sweep reverted", round)
		}
		fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
		if got := new(big.Int).Sub(gasBefore, s.balance(gasKey)); got.Cmp(fee) != 0 {
			t.Errorf("round %d: gas key paid %s, want exactly the fee %s", round, got, fee)
		}
		for _, check := range []struct {
			name      string
			got, want *big.Int
		}{
			{"receiver ETH", s.balance(s.receiver), want.eth},
			{"receiver USDC", s.tokenBalance(s.usdc, s.receiver), want.usdc},
			{"receiver USDT", s.tokenBalance(s.usdt, s.receiver), want.usdt},
			{"deposit ETH", s.balance(deposit), new(big.Int)},
			{"deposit USDC", s.tokenBalance(s.usdc, deposit), new(big.Int)},
			{"deposit USDT", s.tokenBalance(s.usdt, deposit), new(big.Int)},
			{"gas key USDC", s.tokenBalance(s.usdc, gasKey), new(big.Int)},
			{"gas key USDT", s.tokenBalance(s.usdt, gasKey), new(big.Int)},
		} {
			if check.got.Cmp(check.want) != 0 {
				t.Errorf("round %d: %s = %s, want %s", round, check.name, check.got, check.want)
			}
		}
		if round == 0 {
			// Pay again, to the now deployed proxy: 7 wei and 1 USDC base unit.
			if r := s.send(s.payer, &deposit, big.NewInt(7), nil); r.Status != types.ReceiptStatusSuccessful {
				t.Fatal("plain transfer to the deployed deposit address reverted")
			}
			s.mint(s.usdc, deposit, 1)
		}
	}
}

// TestFlushGoesOnlyToTheFixedReceiver shows that no caller can redirect a
// deposit address's money: a stranger calling flush sends it to the receiver,
// a sweep naming another receiver with the same salt touches a different
// address, and the shared implementation cannot be flushed directly.
func TestFlushGoesOnlyToTheFixedReceiver(t *testing.T) {
	s := newShop(t)
	salt := forwarder.Salt("inv_theft")
	deposit := forwarder.DepositAddress(s.factory, s.receiver, salt)
	thief := crypto.PubkeyToAddress(s.payer.PublicKey)
	s.send(s.payer, &deposit, ether, nil)

	// Another receiver, same salt: a different address, holding nothing.
	if r := s.sweep([]forwarder.Sweep{{Receiver: thief, Salt: salt}}, nil); r.Status != types.ReceiptStatusSuccessful {
		t.Fatal("sweep of the thief's own (empty) address reverted")
	}
	if got := s.balance(deposit); got.Cmp(ether) != 0 {
		t.Fatalf("after a sweep naming another receiver the deposit holds %s, want %s", got, ether)
	}

	// Deploy ours, pay it again, then the thief calls flush directly.
	s.sweep([]forwarder.Sweep{{Receiver: s.receiver, Salt: salt}}, nil)
	s.send(s.payer, &deposit, ether, nil)
	thiefBefore := s.balance(thief)
	flush, err := forwarder.FlushData([]common.Address{s.usdc})
	if err != nil {
		t.Fatal(err)
	}
	r := s.send(s.payer, &deposit, nil, flush)
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatal("a stranger's flush reverted")
	}
	if got := s.balance(s.receiver); got.Cmp(new(big.Int).Mul(big.NewInt(2), ether)) != 0 {
		t.Errorf("receiver holds %s, want 2 ETH", got)
	}
	fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
	if got := new(big.Int).Sub(thiefBefore, s.balance(thief)); got.Cmp(fee) != 0 {
		t.Errorf("the stranger's balance changed by %s, want minus the fee %s only", got, fee)
	}

	// The implementation has no receiver: calling it directly reverts.
	impl := forwarder.Implementation(s.factory)
	if r := s.sendUnestimated(s.payer, &impl, flush); r.Status != types.ReceiptStatusFailed {
		t.Fatal("flush on the implementation itself succeeded")
	}
}

// TestDeployAndFlushRefusesBadTokensAndReceivers checks that a token whose
// transfer returns false, an address without code given as a token, and a
// receiver that refuses ether each revert the whole sweep, leaving the money
// where it was.
func TestDeployAndFlushRefusesBadTokensAndReceivers(t *testing.T) {
	s := newShop(t)
	falseToken := s.deploy(testtoken.FalseToken)
	refuser := s.deploy(testtoken.EtherRefuser)
	noCode := common.HexToAddress("0x000000000000000000000000000000000000dEaD")
	for _, tc := range []struct {
		name     string
		receiver common.Address
		tokens   []common.Address
		mint     common.Address
	}{
		{"token returns false", s.receiver, []common.Address{s.usdc, falseToken}, falseToken},
		{"token without code", s.receiver, []common.Address{s.usdc, noCode}, s.usdc},
		{"receiver refuses ether", refuser, []common.Address{s.usdc}, s.usdc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			salt := forwarder.Salt("inv_bad_" + tc.name)
			deposit := forwarder.DepositAddress(s.factory, tc.receiver, salt)
			s.send(s.payer, &deposit, ether, nil)
			s.mint(tc.mint, deposit, 5)
			data, err := forwarder.DeployAndFlushData([]forwarder.Sweep{{Receiver: tc.receiver, Salt: salt}}, tc.tokens)
			if err != nil {
				t.Fatal(err)
			}
			if r := s.sendUnestimated(s.gas, &s.factory, data); r.Status != types.ReceiptStatusFailed {
				t.Fatal("sweep succeeded")
			}
			if got := s.balance(deposit); got.Cmp(ether) != 0 {
				t.Errorf("deposit holds %s ETH after the failed sweep, want %s", got, ether)
			}
			if got := s.tokenBalance(tc.mint, deposit); got.Int64() != 5 {
				t.Errorf("deposit holds %s tokens after the failed sweep, want 5", got)
			}
			if len(s.code(deposit)) != 0 {
				t.Error("a reverted sweep left code at the deposit address")
			}
		})
	}
}
