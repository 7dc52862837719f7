// Package sweep moves the money at paid deposit addresses to the stores'
// receiving addresses. It sends ForwarderFactory.deployAndFlush transactions
// (see internal/evm/forwarder), batched, signed by the operator's gas key: a
// key that holds only fees and can make the forwarders pay out to their fixed
// receivers, never anywhere else.
//
// Sweeping never changes invoice state. Before sweeping an address it reads
// the address's balances and reports any amount beyond what the gateway had
// recorded there (ether from an internal transfer, which no transaction to
// the address shows) through ExcessRecorder, so the watch side can record it
// as a payment before the money moves on.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"crypto/ecdsa"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/cryptopay/cryptopay/internal/evm/forwarder"
)

// Ether is the asset key of native ether in Target.Expected, Excess and
// Flushed, as in the Forwarder's Flushed log: the zero address.
var Ether = common.Address{}

// Token is an ERC-20 token to flush from every swept address.
type Token struct {
	Symbol  string
	Address common.Address
	// Min is the smallest balance, in base units, that makes an address
	// worth sweeping on this token's account; nil or zero means any.
	Min *big.Int
}

// Target is one paid deposit address to sweep.
type Target struct {
	InvoiceID string
	// Receiver is the store's receiving address the deposit address was
	// computed with; the salt is forwarder.Salt(InvoiceID).
	Receiver common.Address
	// Expected is, per asset (Ether or a token contract), what the gateway
	// has recorded arriving at the address and not yet swept, in base units;
	// a missing asset means zero. Money found beyond it is reported as
	// excess.
	Expected map[common.Address]*big.Int
}

// Address returns the target's deposit address under factory.
func (t Target) Address(factory common.Address) common.Address {
	return forwarder.DepositAddress(factory, t.Receiver, forwarder.Salt(t.InvoiceID))
}

// Excess is money found at a deposit address beyond what was expected.
type Excess struct {
	InvoiceID string
	Address   common.Address
	// Asset is Ether or the token contract.
	Asset common.Address
	// Expected and Found are in base units; Found > Expected.
	Expected, Found *big.Int
	// Block is the block the balance was read at.
	BlockNumber uint64
	BlockHash   common.Hash
}

// ExcessRecorder records money found at a deposit address beyond what the
// gateway had recorded there. The sweeper calls it before sweeping the
// address and sweeps the address only if it returns nil, so nothing leaves
// an address unrecorded. An implementation records Found-Expected as a
// payment with its event in one transaction; once recorded it is part of the
// target's Expected, so a later round does not report it again.
type ExcessRecorder interface {
	RecordExcess(ctx context.Context, e Excess) error
}

// Config is the sweeper's policy.
type Config struct {
	// Factory is the ForwarderFactory the deposit addresses belong to.
	Factory common.Address
	// Tokens are flushed from every swept address.
	Tokens []Token
	// MinWei is the smallest ether balance worth sweeping; nil or zero
	// means any. An address is swept when any asset reaches its minimum.
	MinWei *big.Int
	// MaxGasPrice is the ceiling, in wei per gas, the sweeper pays: a round
	// is put off while the base fee plus the tip exceeds it, and it is every
	// transaction's fee cap. Required.
	MaxGasPrice *big.Int
	// BatchSize is the number of addresses per transaction; 0 means 50.
	BatchSize int
}

// Sweeper sends sweeps. It is safe for one goroutine at a time.
type Sweeper struct {
	backend  forwarder.Backend
	key      *ecdsa.PrivateKey
	cfg      Config
	recorder ExcessRecorder
	log      *slog.Logger
}

// New returns a Sweeper. recorder may be nil only when no excess can matter
// (a manual sweep of addresses the operator checked); with nil, an address
// holding excess is not swept.
func New(backend forwarder.Backend, gasKey *ecdsa.PrivateKey, cfg Config, recorder ExcessRecorder, log *slog.Logger) (*Sweeper, error) {
	if gasKey == nil {
		return nil, errors.New("sweep: a gas key is required")
	}
	if cfg.MaxGasPrice == nil || cfg.MaxGasPrice.Sign() <= 0 {
		return nil, errors.New("sweep: a positive gas-price ceiling is required")
	}
	if cfg.Factory == (common.Address{}) {
		return nil, errors.New("sweep: the forwarder factory address is required")
	}
	if cfg.BatchSize < 0 {
		return nil, errors.New("sweep: batch size must not be negative")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 50
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{backend: backend, key: gasKey, cfg: cfg, recorder: recorder, log: log}, nil
}

// GasAddress is the address of the gas key, which pays every sweep's fees.
func (s *Sweeper) GasAddress() common.Address { return crypto.PubkeyToAddress(s.key.PublicKey) }

// Skip is an address a round did not sweep, and why.
type Skip struct {
	InvoiceID string
	Address   common.Address
	Reason    string
}

// Batch is one sent deployAndFlush transaction.
type Batch struct {
	Tx      *types.Transaction
	Targets []Target
}

// Result is what one round did.
type Result struct {
	// BlockNumber is the block balances were read at.
	BlockNumber uint64
	// Deferred is set when the gas price was above the ceiling: nothing was
	// checked or sent.
	Deferred bool
	GasPrice *big.Int
	Skipped  []Skip
	Batches  []Batch
}

// Sweep runs one round over targets: it reads each deposit address's
// balances at the latest block, reports excess, and sends deployAndFlush
// transactions for the addresses worth sweeping, BatchSize at a time. It
// does not wait for them to be mined (see Wait). A batch whose gas
// estimation fails (a reverting token or receiver) is retried address by
// address, so one bad address does not hold up the others. The error joins
// every failure; the Result lists what was sent regardless.
func (s *Sweeper) Sweep(ctx context.Context, targets []Target) (Result, error) {
	var res Result
	head, err := s.backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("sweep: latest header: %w", err)
	}
	res.BlockNumber = head.Number.Uint64()
	tip, err := s.backend.SuggestGasTipCap(ctx)
	if err != nil {
		return res, fmt.Errorf("sweep: gas tip: %w", err)
	}
	base := head.BaseFee
	if base == nil {
		base = new(big.Int)
	}
	res.GasPrice = new(big.Int).Add(base, tip)
	if res.GasPrice.Cmp(s.cfg.MaxGasPrice) > 0 {
		res.Deferred = true
		return res, nil
	}

	var errs []error
	var due []Target
	for _, t := range targets {
		worth, reason, err := s.check(ctx, t, head)
		if err != nil {
			errs = append(errs, err)
			reason = err.Error()
		}
		if !worth {
			res.Skipped = append(res.Skipped, Skip{InvoiceID: t.InvoiceID, Address: t.Address(s.cfg.Factory), Reason: reason})
			continue
		}
		due = append(due, t)
	}
	for start := 0; start < len(due); start += s.cfg.BatchSize {
		batch := due[start:min(start+s.cfg.BatchSize, len(due))]
		sent, err := s.send(ctx, batch)
		if err != nil && len(batch) > 1 {
			for _, one := range batch {
				sent, err := s.send(ctx, []Target{one})
				if err != nil {
					errs = append(errs, err)
					res.Skipped = append(res.Skipped, Skip{InvoiceID: one.InvoiceID, Address: one.Address(s.cfg.Factory), Reason: err.Error()})
					continue
				}
				res.Batches = append(res.Batches, sent)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			res.Skipped = append(res.Skipped, Skip{InvoiceID: batch[0].InvoiceID, Address: batch[0].Address(s.cfg.Factory), Reason: err.Error()})
			continue
		}
		res.Batches = append(res.Batches, sent)
	}
	return res, errors.Join(errs...)
}

// check reads target's balances at head, reports excess and says whether
// the address is worth sweeping (and if not, why).
func (s *Sweeper) check(ctx context.Context, t Target, head *types.Header) (bool, string, error) {
	addr := t.Address(s.cfg.Factory)
	wei, err := s.backend.BalanceAt(ctx, addr, head.Number)
	if err != nil {
		return false, "", fmt.Errorf("sweep: %s: ether balance: %w", addr, err)
	}
	found := map[common.Address]*big.Int{Ether: wei}
	worth := reaches(wei, s.cfg.MinWei)
	for _, tok := range s.cfg.Tokens {
		bal, err := s.tokenBalance(ctx, tok.Address, addr, head.Number)
		if err != nil {
			return false, "", fmt.Errorf("sweep: %s: %s balance: %w", addr, tok.Symbol, err)
		}
		found[tok.Address] = bal
		worth = worth || reaches(bal, tok.Min)
	}
	for asset, got := range found {
		want := t.Expected[asset]
		if want == nil {
			want = new(big.Int)
		}
		if got.Cmp(want) <= 0 {
			continue
		}
		if s.recorder == nil {
			return false, "", fmt.Errorf("sweep: %s holds %s of %s beyond the %s recorded, and no recorder is set", addr, got, asset, want)
		}
		err := s.recorder.RecordExcess(ctx, Excess{
			InvoiceID: t.InvoiceID, Address: addr, Asset: asset,
			Expected: new(big.Int).Set(want), Found: new(big.Int).Set(got),
			BlockNumber: head.Number.Uint64(), BlockHash: head.Hash(),
		})
		if err != nil {
			return false, "", fmt.Errorf("sweep: %s: recording excess of %s: %w", addr, asset, err)
		}
	}
	if !worth {
		return false, "below the minimum value", nil
	}
	return true, "", nil
}

// reaches reports whether a balance is worth sweeping against min.
func reaches(balance, min *big.Int) bool {
	if balance.Sign() <= 0 {
		return false
	}
	return min == nil || balance.Cmp(min) >= 0
}

// balanceOfSelector is the selector of ERC-20 balanceOf(address).
var balanceOfSelector = crypto.Keccak256([]byte("balanceOf(address)"))[:4]

func (s *Sweeper) tokenBalance(ctx context.Context, token, owner common.Address, block *big.Int) (*big.Int, error) {
	data := append(append([]byte{}, balanceOfSelector...), common.LeftPadBytes(owner.Bytes(), 32)...)
	out, err := s.backend.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, block)
	if err != nil {
		return nil, err
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("balanceOf returned %d bytes, want 32", len(out))
	}
	return new(big.Int).SetBytes(out), nil
}

// send sends one deployAndFlush for targets.
func (s *Sweeper) send(ctx context.Context, targets []Target) (Batch, error) {
	sweeps := make([]forwarder.Sweep, len(targets))
	for i, t := range targets {
		sweeps[i] = forwarder.Sweep{Receiver: t.Receiver, Salt: forwarder.Salt(t.InvoiceID)}
	}
	tokens := make([]common.Address, len(s.cfg.Tokens))
	for i, tok := range s.cfg.Tokens {
		tokens[i] = tok.Address
	}
	data, err := forwarder.DeployAndFlushData(sweeps, tokens)
	if err != nil {
		return Batch{}, err
	}
	tx, err := forwarder.SignAndSend(ctx, s.backend, s.key, &s.cfg.Factory, data, s.cfg.MaxGasPrice)
	if err != nil {
		return Batch{}, fmt.Errorf("sweep: %d address(es) from %s: %w", len(targets), targets[0].InvoiceID, err)
	}
	s.log.Info("sweep sent", "tx", tx.Hash(), "addresses", len(targets))
	return Batch{Tx: tx, Targets: targets}, nil
}

// Flushed is one asset a mined sweep moved from a deposit address to its
// receiver, read from the Forwarder's Flushed log.
type Flushed struct {
	Address common.Address
	Asset   common.Address // Ether or the token contract
	Amount  *big.Int
}

// flushedTopic is the Forwarder's Flushed(address,uint256) event id.
var flushedTopic = crypto.Keccak256Hash([]byte("Flushed(address,uint256)"))

// FlushedIn returns what a sweep's receipt says it moved. A reverted sweep
// moved nothing.
func FlushedIn(r *types.Receipt) []Flushed {
	if r.Status != types.ReceiptStatusSuccessful {
		return nil
	}
	var out []Flushed
	for _, l := range r.Logs {
		if len(l.Topics) != 2 || l.Topics[0] != flushedTopic || len(l.Data) != 32 {
			continue
		}
		out = append(out, Flushed{Address: l.Address, Asset: common.BytesToAddress(l.Topics[1].Bytes()), Amount: new(big.Int).SetBytes(l.Data)})
	}
	return out
}

// Wait polls for tx's receipt every interval until it is mined or ctx ends.
func Wait(ctx context.Context, b ethereum.TransactionReader, tx *types.Transaction, interval time.Duration) (*types.Receipt, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r, err := b.TransactionReceipt(ctx, tx.Hash())
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("sweep: receipt of %s: %w", tx.Hash(), err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
