package watcher

import (
	"encoding/json"
	"errors"

	"github.com/cryptopay/cryptopay/internal/chain"
)

// RestartSnapshot is the chain state that makes a watcher continue from
// block from: its next pass connects from.Height+1 up to the node's tip
// and finds every payment to a watched address in those blocks again.
// Operators write it (cryptopay chain rescan|reset) after a halt on a
// reorganisation deeper than the safety limit or after replacing the node,
// when the stored blocks are no longer the node's.
//
// It tracks no payment: a payment still confirming in a block at or below
// from.Height is no longer followed, so a rescan starts below the oldest
// block an unsettled payment is in. Payments found again are matched with
// those already stored (by transaction and output), never credited twice.
func RestartSnapshot(from chain.BlockRef) ([]byte, error) {
	if from.Hash == "" || from.Height < 0 {
		return nil, errors.New("watcher: restart snapshot needs a block height and hash")
	}
	return json.Marshal(snapshot{Version: 2, Recent: []chain.BlockRef{from}})
}
