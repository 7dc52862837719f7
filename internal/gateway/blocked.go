package gateway

import (
	"context"

	"github.com/cryptopay/cryptopay"
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
