package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/monitor"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// ListBlockedAddresses lists the newest sending addresses blocked after
// repeated failed payments (or by an operator) on the networks of the
// caller's mode: blocks are gateway-wide per network, and a test-mode
// caller never sees live ones.
func (s *Service) ListBlockedAddresses(ctx context.Context, caller *cryptopay.APIKey, limit int) ([]storage.BlockedAddress, error) {
	var nets []cryptopay.Network
	for _, n := range cryptopay.Networks() {
		if n.Livemode() == caller.Livemode {
			nets = append(nets, n)
		}
	}
	bs, _, err := s.db.ListBlockedAddresses(ctx, storage.BlockedAddressFilter{Networks: nets, Page: storage.Page{Limit: limit}})
	return bs, err
}

// UnblockAddress lifts the block on a sending address, with its audit
// entry (naming who blocked it and when) in the same transaction. Blocks
// are gateway-wide per network, so this is an operator's decision: the
// dashboard offers it to operator users only. Payments already held stay
// held; each is released after review (ReleasePayment) or resolved on its
// invoice (mark settled or invalid). An address that is not blocked is a
// not-found error.
func (s *Service) UnblockAddress(ctx context.Context, network, address string) (*storage.BlockedAddress, error) {
	n, err := cryptopay.ParseNetwork("network", network)
	if err != nil {
		return nil, err
	}
	if address == "" || len(address) > 100 {
		return nil, cryptopay.Invalid("address", "address is required and at most 100 characters.")
	}
	var out *storage.BlockedAddress
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		b, err := tx.GetBlockedAddress(ctx, n, address)
		if errors.Is(err, storage.ErrNotFound) {
			return cryptopay.Errorf(cryptopay.CodeNotFound, "%s on %s is not blocked.", address, n)
		}
		if err != nil {
			return err
		}
		if err := tx.UnblockAddress(ctx, n, address); err != nil {
			return err
		}
		out = b
		return s.Audit(ctx, tx, AuditRecord{Livemode: n.Livemode(), Action: monitor.AuditAddressUnblocked, Target: address,
			Details: map[string]any{"network": n, "address": address, "blocked_by": b.BlockedBy, "blocked_at": b.BlockedAt.Format(time.RFC3339)}})
	})
	if err != nil {
		return nil, fmt.Errorf("unblock address: %w", err)
	}
	return out, nil
}
