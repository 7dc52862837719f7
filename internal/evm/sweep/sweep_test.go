package sweep_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/cryptopay/cryptopay/contracts/testtoken"
	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
	"github.com/cryptopay/cryptopay/internal/evm/sweep"
)

var ether = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// world is a simulated chain with a factory, a 6-decimal token, a payer, the
// operator's gas key and a store's receiving address.
type world struct {
	t        *testing.T
	sim      *simulated.Backend
	client   simulated.Client
	payer    *ecdsa.PrivateKey
	gas      *ecdsa.PrivateKey
	factory  common.Address
	usdc     common.Address
	receiver common.Address
	token    abi.ABI
}

func newWorld(t *testing.T) *world {
	payer, _ := crypto.GenerateKey()
	gas, _ := crypto.GenerateKey()
	recv, _ := crypto.GenerateKey()
	funds := new(big.Int).Mul(big.NewInt(100), ether)
	sim := simulated.NewBackend(types.GenesisAlloc{
		crypto.PubkeyToAddress(payer.PublicKey): {Balance: funds},
		crypto.PubkeyToAddress(gas.PublicKey):   {Balance: funds},
	})
	t.Cleanup(func() { sim.Close() })
	tokenABI, err := abi.JSON(strings.NewReader(testtoken.BoolToken.ABI))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, sim: sim, client: sim.Client(), payer: payer, gas: gas, receiver: crypto.PubkeyToAddress(recv.PublicKey), token: tokenABI}
	factory, tx, err := forwarder.DeployFactory(context.Background(), w.client, gas)
	if err != nil {
		t.Fatal(err)
	}
	w.mine(tx)
	w.factory = factory
	w.usdc = w.mine(w.send(gas, nil, nil, testtoken.BoolToken.Bytecode)).ContractAddress
	return w
}

func (w *world) send(key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte) *types.Transaction {
	w.t.Helper()
	ctx := context.Background()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := w.client.PendingNonceAt(ctx, from)
	if err != nil {
		w.t.Fatal(err)
	}
	gas, err := w.client.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Value: value, Data: data})
	if err != nil {
		w.t.Fatal(err)
	}
	head, err := w.client.HeaderByNumber(ctx, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	tip, err := w.client.SuggestGasTipCap(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	id, err := w.client.ChainID(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID: id, Nonce: nonce, GasTipCap: tip, Gas: gas, To: to, Value: value, Data: data,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.client.SendTransaction(ctx, tx); err != nil {
		w.t.Fatal(err)
	}
	return tx
}

// mine commits a block and waits for tx's receipt.
func (w *world) mine(tx *types.Transaction) *types.Receipt {
	w.t.Helper()
	w.sim.Commit()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := sweep.Wait(ctx, w.client, tx, 5*time.Millisecond)
	if err != nil {
		w.t.Fatal(err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		w.t.Fatalf("transaction %s reverted", tx.Hash())
	}
	return r
}

// pay pays an invoice's deposit address wei and usdc base units.
func (w *world) pay(invoiceID string, wei *big.Int, usdc int64) common.Address {
	w.t.Helper()
	deposit := forwarder.DepositAddress(w.factory, w.receiver, forwarder.Salt(invoiceID))
	if wei != nil {
		w.mine(w.send(w.payer, &deposit, wei, nil))
	}
	if usdc > 0 {
		data, err := w.token.Pack("mint", deposit, big.NewInt(usdc))
		if err != nil {
			w.t.Fatal(err)
		}
		w.mine(w.send(w.payer, &w.usdc, nil, data))
	}
	return deposit
}

func (w *world) usdcBalance(addr common.Address) *big.Int {
	w.t.Helper()
	data, _ := w.token.Pack("balanceOf", addr)
	out, err := w.client.CallContract(context.Background(), ethereum.CallMsg{To: &w.usdc, Data: data}, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

func (w *world) balance(addr common.Address) *big.Int {
	w.t.Helper()
	b, err := w.client.BalanceAt(context.Background(), addr, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// recorder is an ExcessRecorder that keeps what it is told and can be made
// to fail.
type recorder struct {
	got  []sweep.Excess
	fail error
}

func (r *recorder) RecordExcess(_ context.Context, e sweep.Excess) error {
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, e)
	return nil
}

func (w *world) sweeper(cfg sweep.Config, rec sweep.ExcessRecorder) *sweep.Sweeper {
	w.t.Helper()
	cfg.Factory = w.factory
	if cfg.MaxGasPrice == nil {
		cfg.MaxGasPrice = big.NewInt(100_000_000_000) // 100 gwei
	}
	s, err := sweep.New(w.client, w.gas, cfg, rec, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// TestSweepBatchesPaidAddresses pays three invoices, one with more ether
// than the gateway recorded (as an internal transfer would) and one below
// the minimum, and checks one round: the excess reported exactly, the small
// one left alone, the others swept in one batch to the receiver, and the
// receipt's Flushed logs agreeing with the balances.
func TestSweepBatchesPaidAddresses(t *testing.T) {
	w := newWorld(t)
	// The receiver exists already, as a store's wallet does.
	w.mine(w.send(w.payer, &w.receiver, big.NewInt(1), nil))
	half := new(big.Int).Div(ether, big.NewInt(2))
	a := w.pay("inv_a", ether, 0)
	b := w.pay("inv_b", nil, 25_000_000)
	c := w.pay("inv_c", big.NewInt(1000), 0) // dust
	w.pay("inv_a", half, 0)                  // unrecorded by the gateway

	rec := &recorder{}
	s := w.sweeper(sweep.Config{
		Tokens:    []sweep.Token{{Symbol: "USDC", Address: w.usdc, Min: big.NewInt(1_000_000)}},
		MinWei:    big.NewInt(1_000_000_000_000_000), // 0.001 ETH
		BatchSize: 10,
	}, rec)
	targets := []sweep.Target{
		{InvoiceID: "inv_a", Receiver: w.receiver, Expected: map[common.Address]*big.Int{sweep.Ether: ether}},
		{InvoiceID: "inv_b", Receiver: w.receiver, Expected: map[common.Address]*big.Int{w.usdc: big.NewInt(25_000_000)}},
		{InvoiceID: "inv_c", Receiver: w.receiver, Expected: map[common.Address]*big.Int{sweep.Ether: big.NewInt(1000)}},
	}
	res, err := s.Sweep(context.Background(), targets)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deferred || len(res.Batches) != 1 || len(res.Batches[0].Targets) != 2 {
		t.Fatalf("result %+v: want one batch of two addresses", res)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Address != c || res.Skipped[0].Reason != "below the minimum value" {
		t.Fatalf("skipped %+v, want inv_c below the minimum", res.Skipped)
	}
	wantFound := new(big.Int).Add(ether, half)
	if len(rec.got) != 1 || rec.got[0].Address != a || rec.got[0].Asset != sweep.Ether ||
		rec.got[0].Expected.Cmp(ether) != 0 || rec.got[0].Found.Cmp(wantFound) != 0 || rec.got[0].InvoiceID != "inv_a" {
		t.Fatalf("excess reported %+v, want inv_a ether expected %s found %s", rec.got, ether, wantFound)
	}

	receiverBefore := w.balance(w.receiver)
	r := w.mine(res.Batches[0].Tx)
	flushed := sweep.FlushedIn(r)
	want := map[[2]common.Address]*big.Int{{a, sweep.Ether}: wantFound, {b, w.usdc}: big.NewInt(25_000_000)}
	if len(flushed) != len(want) {
		t.Fatalf("flushed %+v, want %v", flushed, want)
	}
	for _, f := range flushed {
		if amt := want[[2]common.Address{f.Address, f.Asset}]; amt == nil || amt.Cmp(f.Amount) != 0 {
			t.Errorf("flushed %s of %s from %s, want %v", f.Amount, f.Asset, f.Address, amt)
		}
	}
	if got := new(big.Int).Sub(w.balance(w.receiver), receiverBefore); got.Cmp(wantFound) != 0 {
		t.Errorf("receiver gained %s wei, want %s", got, wantFound)
	}
	if got := w.usdcBalance(w.receiver); got.Int64() != 25_000_000 {
		t.Errorf("receiver holds %s USDC base units, want 25000000", got)
	}
	if got := w.balance(c); got.Int64() != 1000 {
		t.Errorf("the dust address holds %s, want its 1000 wei untouched", got)
	}
}

// TestSweepWaitsBelowTheGasPriceCeiling: with the base fee above the ceiling
// a round checks nothing and sends nothing.
func TestSweepWaitsBelowTheGasPriceCeiling(t *testing.T) {
	w := newWorld(t)
	w.pay("inv_a", ether, 0)
	s := w.sweeper(sweep.Config{MaxGasPrice: big.NewInt(1)}, &recorder{})
	res, err := s.Sweep(context.Background(), []sweep.Target{{InvoiceID: "inv_a", Receiver: w.receiver}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Deferred || len(res.Batches) != 0 {
		t.Fatalf("result %+v, want deferred with nothing sent", res)
	}
	nonce, err := w.client.PendingNonceAt(context.Background(), s.GasAddress())
	if err != nil {
		t.Fatal(err)
	}
	if nonce != 2 { // the factory and the token deployments
		t.Fatalf("gas key nonce %d: a deferred round sent a transaction", nonce)
	}
}

// TestSweepHoldsAddressWhoseExcessIsNotRecorded: if the excess cannot be
// recorded (the recorder fails, or none is set), the address is not swept,
// so its money never leaves unrecorded.
func TestSweepHoldsAddressWhoseExcessIsNotRecorded(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  sweep.ExcessRecorder
	}{
		{"recorder fails", &recorder{fail: errors.New("database down")}},
		{"no recorder", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			deposit := w.pay("inv_a", ether, 0)
			s := w.sweeper(sweep.Config{}, tc.rec)
			res, err := s.Sweep(context.Background(), []sweep.Target{{InvoiceID: "inv_a", Receiver: w.receiver}})
			if err == nil || len(res.Batches) != 0 || len(res.Skipped) != 1 || res.Skipped[0].Address != deposit {
				t.Fatalf("result %+v, err %v: want the address held back with an error", res, err)
			}
		})
	}
}

// TestNewRefusesIncompleteConfig lists the settings a Sweeper cannot do
// without.
func TestNewRefusesIncompleteConfig(t *testing.T) {
	key, _ := crypto.GenerateKey()
	factory := common.HexToAddress("0x0000000000000000000000000000000000000001")
	for _, tc := range []struct {
		name string
		key  *ecdsa.PrivateKey
		cfg  sweep.Config
	}{
		{"no key", nil, sweep.Config{Factory: factory, MaxGasPrice: big.NewInt(1)}},
		{"no ceiling", key, sweep.Config{Factory: factory}},
		{"zero ceiling", key, sweep.Config{Factory: factory, MaxGasPrice: new(big.Int)}},
		{"no factory", key, sweep.Config{MaxGasPrice: big.NewInt(1)}},
		{"negative batch", key, sweep.Config{Factory: factory, MaxGasPrice: big.NewInt(1), BatchSize: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sweep.New(nil, tc.key, tc.cfg, nil, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
