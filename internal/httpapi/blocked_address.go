package httpapi

import (
	"net/http"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// blockedAddressBody is a blocked sending address on the wire.
type blockedAddressBody struct {
	Object    string            `json:"object"`
	ID        string            `json:"id"`
	Network   cryptopay.Network `json:"network"`
	Livemode  bool              `json:"livemode"`
	Address   string            `json:"address"`
	Reason    string            `json:"reason"`
	Failures  int               `json:"failures"`
	BlockedAt int64             `json:"blocked_at"`
	BlockedBy string            `json:"blocked_by"`
}

// modeNetworks are the networks a key of each mode sees: blocks are per
// network across the gateway, and a test key never sees live ones.
var modeNetworks = map[bool][]cryptopay.Network{
	true:  {cryptopay.NetworkBitcoin},
	false: {cryptopay.NetworkBitcoinTestnet, cryptopay.NetworkBitcoinSignet, cryptopay.NetworkBitcoinRegtest},
}

// listBlockedAddresses lists the sending addresses blocked after repeated
// failed payments (or by an operator) on the networks of the key's mode.
func (s *Server) listBlockedAddresses(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "limit", "starting_after"); err != nil {
		return err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = 10
	}
	if limit < 1 || limit > 100 {
		return cryptopay.Invalid("limit", "limit must be between 1 and 100.")
	}
	after := r.URL.Query().Get("starting_after")
	if after != "" && !cryptopay.ValidID("blk", after) {
		return cryptopay.Invalid("starting_after", "starting_after %q is not a valid id.", after)
	}
	bs, more, err := s.svc.DB().ListBlockedAddresses(r.Context(), storage.BlockedAddressFilter{
		Networks: modeNetworks[key.Livemode], Page: storage.Page{Limit: limit, StartingAfter: after}})
	if err != nil {
		return err
	}
	out := make([]blockedAddressBody, len(bs))
	for i, b := range bs {
		out[i] = blockedAddressBody{Object: "blocked_address", ID: b.ID, Network: b.Network, Livemode: b.Network.Livemode(),
			Address: b.Address, Reason: b.Reason, Failures: b.Failures, BlockedAt: b.BlockedAt.Unix(), BlockedBy: b.BlockedBy}
	}
	writeJSON(w, http.StatusOK, listBody[blockedAddressBody]{Object: "list", Data: out, HasMore: more})
	return nil
}
