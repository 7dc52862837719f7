package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// BalanceCheck is what the sweeper read at an EVM deposit address before
// moving its money on: the balance of one asset at one block. It is
// chain-agnostic (strings and integers), so the service imports no EVM
// package; internal/evm/sweepbook builds it from the sweeper's findings.
type BalanceCheck struct {
	InvoiceID string
	// Asset and Decimals name what was read ("ETH", 18; "USDC", 6), Vout
	// the output number an excess is recorded under: 0 for the native
	// asset, 1+i for the registry's i-th token (distinct per asset, so each
	// asset's excess at a block is its own payment).
	Asset    string
	Decimals int
	Vout     uint32
	// Found is the balance in base units at the block.
	Found       *big.Int
	BlockHash   string
	BlockHeight int64
	// SweptHeight is the block of the address's last mined sweep (0 for
	// none): payments up to it were moved on.
	SweptHeight int64
	// Lease and Epoch fence the write to the sweeper that holds the lease;
	// an empty Lease writes unfenced (a one-off operator command).
	Lease string
	Epoch int64
}

// ErrWatcherBehind: the chain watcher has not yet processed the block a
// balance was read at, so a payment in it may still be on its way to being
// recorded; the excess is not judged (the sweeper leaves the address for a
// later round).
var ErrWatcherBehind = errors.New("the chain watcher has not reached the block the balance was read at")

// ExpectedAt returns what the gateway has recorded arriving at inv's
// address in asset, mined after sweptHeight and at or before height, in
// base units: the money that should be there at height. Payments beaten by
// a conflict (double spent, conflicted, replaced) never arrived, and
// payments not in a block are not in a balance yet.
func ExpectedAt(inv *cryptopay.Invoice, asset string, sweptHeight, height int64) *big.Int {
	sum := new(big.Int)
	for i := range inv.Payments {
		p := &inv.Payments[i]
		if a, _ := p.Unit(inv); a != asset || p.BlockHash == "" || p.BlockHeight <= sweptHeight || p.BlockHeight > height {
			continue
		}
		switch p.Status {
		case cryptopay.PaymentDoubleSpent, cryptopay.PaymentConflicted, cryptopay.PaymentReplaced:
			continue
		}
		sum.Add(sum, p.Amount)
	}
	return sum
}

// RecordBalance records, as an internal_transfer payment with its
// payment.internal_transfer event in one transaction, whatever c.Found
// holds beyond what the gateway expected at the address at c's block (see
// ExpectedAt): ether an internal transfer brought, which no transaction to
// the address shows. Expectation is judged inside the transaction under the
// invoice's lock, against the payments as the watcher has recorded them,
// and only once the watcher has processed c's block (else ErrWatcherBehind):
// a payment it is about to record is never taken for an excess. Recording
// is idempotent: a recorded excess is expected from then on, and the same
// block and asset twice is the same payment. It returns the payment, or nil
// when there was no excess. It never changes the invoice's state: the
// payment is not credited (an operator decides).
func (s *Service) RecordBalance(ctx context.Context, c BalanceCheck) (*cryptopay.Payment, error) {
	if c.Found == nil || c.Found.Sign() <= 0 {
		return nil, nil
	}
	var recorded *cryptopay.Payment
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		if c.Lease != "" {
			if err := tx.CheckLease(ctx, c.Lease, c.Epoch); err != nil {
				return err
			}
		}
		inv, err := tx.LockInvoice(ctx, c.InvoiceID)
		if err != nil {
			return fmt.Errorf("invoice %s: %w", c.InvoiceID, err)
		}
		st, err := tx.GetChainState(ctx, inv.Network)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && st.Height < c.BlockHeight) {
			return ErrWatcherBehind
		}
		if err != nil {
			return err
		}
		txid := strings.ToLower(c.BlockHash)
		for i := range inv.Payments {
			if p := &inv.Payments[i]; p.TxID == txid && p.Vout == c.Vout {
				return nil // recorded by an earlier round at this block
			}
		}
		excess := new(big.Int).Sub(c.Found, ExpectedAt(inv, c.Asset, c.SweptHeight, c.BlockHeight))
		if excess.Sign() <= 0 {
			return nil
		}
		now := s.Now()
		// Keyed by the block the balance was read at: the excess has no
		// transaction of its own to name.
		p := cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, now), InvoiceID: inv.ID,
			TxID: txid, Vout: c.Vout, Amount: excess, Asset: c.Asset, Decimals: c.Decimals,
			BlockHash: txid, BlockHeight: c.BlockHeight, Status: cryptopay.PaymentInternalTransfer, SeenAt: now}
		if err := tx.CreatePayment(ctx, &p); err != nil {
			return err
		}
		inv.Payments = append(inv.Payments, p)
		ev := cryptopay.NewInvoiceEvent(cryptopay.EventPaymentInternalTransfer, inv, &p, now)
		if err := s.outbox.Append(ctx, tx, &ev); err != nil {
			return err
		}
		recorded = &p
		return nil
	})
	if err != nil {
		return nil, err
	}
	if recorded != nil {
		s.log.WarnContext(ctx, "internal transfer recorded: not credited, an operator decides",
			"invoice", c.InvoiceID, "asset", c.Asset, "amount", recorded.Amount, "block", c.BlockHeight)
	}
	return recorded, nil
}

// RecordSweep notes that a mined sweep (txHash at height) emptied the
// deposit addresses of invoiceIDs, fenced by the sweeper's lease as
// RecordBalance is. It changes no invoice.
func (s *Service) RecordSweep(ctx context.Context, invoiceIDs []string, height int64, txHash, lease string, epoch int64) error {
	return s.db.InTx(ctx, func(tx storage.Tx) error {
		if lease != "" {
			if err := tx.CheckLease(ctx, lease, epoch); err != nil {
				return err
			}
		}
		now := s.Now()
		for _, id := range invoiceIDs {
			if err := tx.RecordSweep(ctx, id, height, strings.ToLower(txHash), now); err != nil {
				return err
			}
		}
		return nil
	})
}
