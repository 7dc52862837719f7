// Package sweepbook keeps the books of the EVM sweeper (internal/evm/sweep)
// in the gateway: which deposit addresses to look at and what is expected
// at each (TargetSource), what the balance check found beyond it (recorded
// through the invoice service as an internal_transfer payment with its
// event: ExcessRecorder), and which sweeps were mined (SweptRecorder). Run
// drives the periodic sweeper on the one instance that holds the network's
// sweep lease.
//
// It changes no invoice state: its only writes are a payment that is never
// credited, with its event, and the sweep bookkeeping.
package sweepbook

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/evm/evmnet"
	"github.com/cryptopay/cryptopay/internal/evm/sweep"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Book is one network's sweep books. Set Lease and Epoch (Run does) to
// fence its writes to the holder of the sweep lease.
type Book struct {
	DB    storage.DB
	Svc   *gateway.Service
	Chain evmnet.Chain
	// Factory is the ForwarderFactory the deposit addresses come from.
	Factory common.Address
	// Grace keeps an invoice's address among the targets this long after
	// its monitoring window ends, so money that arrived at the end is
	// swept too.
	Grace time.Duration
	Now   func() time.Time
	Log   *slog.Logger

	Lease string
	Epoch int64

	swept map[string]int64 // invoice id → last sweep height, from the latest SweepTargets
}

// LeaseName is the lease that makes one instance the sweeper of network.
func LeaseName(n cryptopay.Network) string { return "evm sweeper " + string(n) }

// pageSize bounds each candidates query.
const pageSize = 500

// SweepTargets lists the deposit addresses of invoices on the network
// watched now or within Grace, each with what the gateway recorded arriving
// there since its last sweep. An invoice whose address does not follow from
// its store's current receiving address (the store changed it) is left out
// and logged: its forwarder can only pay the old receiver, which the
// operator must sweep by hand.
func (b *Book) SweepTargets(ctx context.Context) ([]sweep.Target, error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	since := now().Add(-b.Grace)
	b.swept = map[string]int64{}
	var out []sweep.Target
	after := ""
	for {
		page, err := b.DB.ListSweepCandidates(ctx, b.Chain.Network, since, after, pageSize)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			after = c.InvoiceID
			t, ok, err := b.target(ctx, c)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, t)
			}
		}
		if len(page) < pageSize {
			return out, nil
		}
	}
}

func (b *Book) target(ctx context.Context, c storage.SweepCandidate) (sweep.Target, bool, error) {
	inv, err := b.DB.GetInvoice(ctx, c.InvoiceID)
	if err != nil {
		return sweep.Target{}, false, err
	}
	st, err := b.DB.GetStore(ctx, inv.StoreID)
	if err != nil {
		return sweep.Target{}, false, err
	}
	w, ok := st.Wallet(inv.Network)
	if !ok {
		return sweep.Target{}, false, nil
	}
	t := sweep.Target{InvoiceID: inv.ID, Receiver: common.HexToAddress(w.AccountKey), Expected: map[common.Address]*big.Int{}}
	if !common.IsHexAddress(w.AccountKey) || t.Address(b.Factory) != common.HexToAddress(inv.Address) {
		b.log().WarnContext(ctx, "sweep: deposit address does not follow from the store's receiving address; not swept", "invoice", inv.ID, "address", inv.Address)
		return sweep.Target{}, false, nil
	}
	b.swept[inv.ID] = c.SweptHeight
	t.Expected[sweep.Ether] = gateway.ExpectedAt(inv, inv.Network.NativeAsset(), c.SweptHeight, math.MaxInt64)
	for _, tok := range b.Chain.Tokens {
		t.Expected[tok.Contract] = gateway.ExpectedAt(inv, tok.Asset, c.SweptHeight, math.MaxInt64)
	}
	return t, true, nil
}

// RecordExcess records e through the invoice service (gateway.Service.
// RecordBalance), which judges the excess again under the invoice's lock
// and only once the watcher has processed e's block.
func (b *Book) RecordExcess(ctx context.Context, e sweep.Excess) error {
	c := gateway.BalanceCheck{InvoiceID: e.InvoiceID, Found: e.Found, BlockHash: e.BlockHash.Hex(),
		BlockHeight: int64(e.BlockNumber), SweptHeight: b.swept[e.InvoiceID], Lease: b.Lease, Epoch: b.Epoch}
	if e.Asset == sweep.Ether {
		c.Asset = b.Chain.Network.NativeAsset()
		c.Decimals, _ = b.Chain.Network.AssetDecimals(c.Asset)
	} else {
		i := -1
		for j, t := range b.Chain.Tokens {
			if t.Contract == e.Asset {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("token %s is not in the %s registry", e.Asset, b.Chain.Network)
		}
		c.Asset, c.Decimals, c.Vout = b.Chain.Tokens[i].Asset, b.Chain.Tokens[i].Decimals, uint32(i+1)
	}
	_, err := b.Svc.RecordBalance(ctx, c)
	return err
}

// RecordSwept notes a mined sweep, so the next round expects at its
// addresses only what arrives after r's block.
func (b *Book) RecordSwept(ctx context.Context, batch sweep.Batch, r *types.Receipt) error {
	ids := make([]string, len(batch.Targets))
	for i, t := range batch.Targets {
		ids[i] = t.InvoiceID
	}
	return b.Svc.RecordSweep(ctx, ids, r.BlockNumber.Int64(), r.TxHash.Hex(), b.Lease, b.Epoch)
}

func (b *Book) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}
