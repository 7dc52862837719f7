// Package forwarder computes and deploys the gateway's non-custodial EVM
// deposit addresses. Each invoice's deposit address is the CREATE2 address of
// a tiny proxy (EIP-1167, with the store's receiving address appended to its
// code) that a ForwarderFactory contract deploys only when the address is
// swept; until then it is an empty account, so paying it costs the customer a
// plain transfer. Whatever reaches it can only ever be sent to that receiving
// address (see contracts/Forwarder.sol).
//
// The package computes addresses off chain (Salt, DepositAddress), deploys the
// factory (DeployFactory) and builds the batched deploy-and-flush call that
// the sweeper sends. It does not watch chains or credit payments.
package forwarder

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/cryptopay/cryptopay/contracts"
)

// Proxy code pieces, exactly as ForwarderFactory.initCode lays them out:
// the EIP-1167 constructor for 0x41 (65) bytes of runtime code, the proxy up
// to its PUSH20, then (after the implementation address) the DELEGATECALL and
// return-or-revert tail. The receiver's 20 bytes follow and are never run.
var (
	proxyConstructor = common.FromHex("3d604180600a3d3981f3")
	proxyHead        = common.FromHex("363d3d373d3d3d363d73")
	proxyTail        = common.FromHex("5af43d82803e903d91602b57fd5bf3")
)

// ProxyCodeSize is the size of a deployed deposit address's code: the 45-byte
// EIP-1167 proxy and the 20-byte receiver.
const ProxyCodeSize = 65

// saltDomain separates the gateway's salts from any other use of the hash.
const saltDomain = "cryptopay/forwarder/v1:"

// Salt returns the CREATE2 salt of an invoice's deposit address:
// keccak256("cryptopay/forwarder/v1:" + invoiceID). Invoice ids are unique, so
// so are the addresses of one store's invoices.
func Salt(invoiceID string) [32]byte {
	return crypto.Keccak256Hash([]byte(saltDomain + invoiceID))
}

// Implementation returns the address of the Forwarder logic that factory
// created in its constructor: a contract's first CREATE uses nonce 1.
func Implementation(factory common.Address) common.Address {
	return crypto.CreateAddress(factory, 1)
}

// InitCode returns the creation code of the deposit-address proxy that
// delegates to implementation and sends everything to receiver.
func InitCode(implementation, receiver common.Address) []byte {
	code := make([]byte, 0, len(proxyConstructor)+ProxyCodeSize)
	code = append(code, proxyConstructor...)
	code = append(code, proxyHead...)
	code = append(code, implementation.Bytes()...)
	code = append(code, proxyTail...)
	return append(code, receiver.Bytes()...)
}

// DepositAddress returns the deposit address that factory deploys for
// receiver and salt, computed off chain:
// keccak256(0xff ++ factory ++ salt ++ keccak256(initCode))[12:].
func DepositAddress(factory, receiver common.Address, salt [32]byte) common.Address {
	initHash := crypto.Keccak256(InitCode(Implementation(factory), receiver))
	return crypto.CreateAddress2(factory, salt, initHash)
}

// factoryABI and forwarderABI are parsed once from the committed artifacts.
var (
	factoryABI   = mustABI(contracts.ForwarderFactory.ABI)
	forwarderABI = mustABI(contracts.Forwarder.ABI)
)

func mustABI(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return a
}

// Sweep names one deposit address to deploy (if needed) and flush: the
// receiver and salt it was computed from.
type Sweep struct {
	Receiver common.Address
	Salt     [32]byte
}

// DeployAndFlushData returns the calldata of ForwarderFactory.deployAndFlush
// for sweeps and tokens. It fails only on an empty sweep list.
func DeployAndFlushData(sweeps []Sweep, tokens []common.Address) ([]byte, error) {
	if len(sweeps) == 0 {
		return nil, errors.New("forwarder: no deposit addresses to sweep")
	}
	// The ABI packer matches tuple fields to struct fields by name.
	type sweepTuple struct {
		Receiver common.Address
		Salt     [32]byte
	}
	args := make([]sweepTuple, len(sweeps))
	for i, s := range sweeps {
		args[i] = sweepTuple(s)
	}
	if tokens == nil {
		tokens = []common.Address{}
	}
	return factoryABI.Pack("deployAndFlush", args, tokens)
}

// FlushData returns the calldata of Forwarder.flush(tokens), for a deposit
// address that is already deployed.
func FlushData(tokens []common.Address) ([]byte, error) {
	if tokens == nil {
		tokens = []common.Address{}
	}
	return forwarderABI.Pack("flush", tokens)
}

// Backend is what deploying and sweeping need from an Ethereum node;
// go-ethereum's ethclient.Client provides it.
type Backend interface {
	ethereum.ChainIDReader
	ethereum.GasEstimator
	ethereum.GasPricer
	ethereum.GasPricer1559
	ethereum.ChainReader
	ethereum.ChainStateReader
	ethereum.ContractCaller
	ethereum.PendingStateReader
	ethereum.TransactionSender
	ethereum.TransactionReader
}

// DeployFactory sends the transaction that deploys a ForwarderFactory (and,
// from its constructor, the Forwarder logic) signed by key, and returns the
// factory's address and the transaction. The factory's address depends on
// the deployer and its nonce; deposit addresses depend on the factory, so a
// store's configuration names the factory it was deployed with. The caller
// waits for the receipt.
func DeployFactory(ctx context.Context, b Backend, key *ecdsa.PrivateKey) (common.Address, *types.Transaction, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	tx, err := SignAndSend(ctx, b, key, nil, contracts.ForwarderFactory.Bytecode, nil)
	if err != nil {
		return common.Address{}, nil, fmt.Errorf("forwarder: deploy factory: %w", err)
	}
	return crypto.CreateAddress(from, tx.Nonce()), tx, nil
}

// SignAndSend builds an EIP-1559 transaction from key's pending nonce to to
// (nil creates a contract) with data, estimates its gas, signs and sends it.
// maxFee, when not nil, is the fee cap per gas; otherwise the cap is twice the
// latest base fee plus the suggested tip. It returns the sent transaction.
func SignAndSend(ctx context.Context, b Backend, key *ecdsa.PrivateKey, to *common.Address, data []byte, maxFee *big.Int) (*types.Transaction, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	chainID, err := b.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("chain id: %w", err)
	}
	nonce, err := b.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	tip, err := b.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("gas tip: %w", err)
	}
	feeCap := maxFee
	if feeCap == nil {
		head, err := b.HeaderByNumber(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("latest header: %w", err)
		}
		base := head.BaseFee
		if base == nil {
			base = new(big.Int)
		}
		feeCap = new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip)
	}
	if tip.Cmp(feeCap) > 0 {
		tip = new(big.Int).Set(feeCap)
	}
	gas, err := b.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Data: data, GasFeeCap: feeCap, GasTipCap: tip})
	if err != nil {
		return nil, fmt.Errorf("estimate gas: %w", err)
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID:   chainID,
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        to,
		Data:      data,
	})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := b.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	return tx, nil
}
