package watcher

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/tracker"
)

// snapshot is the tracker's state as stored in chain_state.snapshot: the
// recent block hashes, every payment still tracked and the conflicts that
// decide their fate. It is written in the same transaction as the events
// of the step that produced it.
//
// Version 2 added the conflicts, the mempool order (seen) and the derived
// conflicted/dropped state. A version 1 snapshot still loads: its double
// spent payments become conflicted by their conflict (which it did not say
// where to find), so they are not counted until the chain says otherwise.
type snapshot struct {
	Version   int                `json:"v"`
	Recent    []chain.BlockRef   `json:"recent"`
	Payments  []snapshotPayment  `json:"payments"`
	Conflicts []snapshotConflict `json:"conflicts,omitempty"`
}

type snapshotPayment struct {
	TxID          string           `json:"txid"`
	Index         uint32           `json:"index"`
	Key           string           `json:"key"`
	Amount        string           `json:"amount"`
	Asset         string           `json:"asset,omitempty"`
	Spends        []chain.Outpoint `json:"spends"`
	RBF           bool             `json:"rbf,omitempty"`
	From          string           `json:"from,omitempty"`
	Block         *chain.BlockRef  `json:"block,omitempty"`
	Confirmations int64            `json:"confirmations"`
	DoubleSpentBy string           `json:"double_spent_by,omitempty"`
	ConflictedBy  string           `json:"conflicted_by,omitempty"`
	Dropped       bool             `json:"dropped,omitempty"`
	Seen          uint64           `json:"seen,omitempty"`
}

type snapshotConflict struct {
	TxID   string           `json:"txid"`
	Spends []chain.Outpoint `json:"spends"`
	Block  *chain.BlockRef  `json:"block,omitempty"`
	Seen   uint64           `json:"seen,omitempty"`
}

// restoreState is a decoded snapshot, ready for tracker.Restore.
type restoreState struct {
	recent    []chain.BlockRef
	payments  []tracker.Payment
	conflicts []tracker.Conflict
}

func encodeSnapshot(t *tracker.Tracker) ([]byte, error) {
	s := snapshot{Version: 2, Recent: t.Recent()}
	for _, p := range t.Payments() {
		s.Payments = append(s.Payments, snapshotPayment{
			TxID: p.Outpoint.TxID, Index: p.Outpoint.Index, Key: hex.EncodeToString(p.Key[:]),
			Amount: p.Amount.String(), Asset: p.Asset, Spends: p.TxSpends, RBF: p.RBF, From: p.From,
			Block: p.Block, Confirmations: p.Confirmations, DoubleSpentBy: p.DoubleSpentBy,
			ConflictedBy: p.ConflictedBy, Dropped: p.Dropped, Seen: p.Seen,
		})
	}
	for _, c := range t.Conflicts() {
		s.Conflicts = append(s.Conflicts, snapshotConflict{TxID: c.TxID, Spends: c.Spends, Block: c.Block, Seen: c.Seen})
	}
	return json.Marshal(s)
}

func decodeSnapshot(b []byte) (restoreState, error) {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return restoreState{}, fmt.Errorf("watcher: decode snapshot: %w", err)
	}
	if s.Version != 1 && s.Version != 2 {
		return restoreState{}, fmt.Errorf("watcher: snapshot version %d is not supported", s.Version)
	}
	out := restoreState{recent: s.Recent, payments: make([]tracker.Payment, 0, len(s.Payments))}
	v1conflicts := map[string]bool{}
	for _, p := range s.Payments {
		var key chain.Key
		kb, err := hex.DecodeString(p.Key)
		if err != nil || len(kb) != len(key) {
			return restoreState{}, fmt.Errorf("watcher: snapshot payment %s:%d: bad key", p.TxID, p.Index)
		}
		copy(key[:], kb)
		amount, ok := new(big.Int).SetString(p.Amount, 10)
		if !ok {
			return restoreState{}, fmt.Errorf("watcher: snapshot payment %s:%d: bad amount", p.TxID, p.Index)
		}
		tp := tracker.Payment{
			Outpoint: chain.Outpoint{TxID: p.TxID, Index: p.Index}, Key: key, Amount: amount, Asset: p.Asset,
			TxSpends: p.Spends, RBF: p.RBF, From: p.From, Block: p.Block,
			Confirmations: p.Confirmations, DoubleSpentBy: p.DoubleSpentBy,
			ConflictedBy: p.ConflictedBy, Dropped: p.Dropped, Seen: p.Seen,
		}
		if s.Version == 1 && p.Block == nil {
			// Version 1 kept no mempool order: unconfirmed payments were
			// in the mempool, and a double spent one lost to its conflict.
			tp.Seen = 1
			if by := p.DoubleSpentBy; by != "" {
				tp.DoubleSpentBy, tp.ConflictedBy = "", by
				if !v1conflicts[by] {
					v1conflicts[by] = true
					out.conflicts = append(out.conflicts, tracker.Conflict{TxID: by, Spends: p.Spends, Seen: 2})
				}
			}
		}
		out.payments = append(out.payments, tp)
	}
	for _, c := range s.Conflicts {
		out.conflicts = append(out.conflicts, tracker.Conflict{TxID: c.TxID, Spends: c.Spends, Block: c.Block, Seen: c.Seen})
	}
	return out, nil
}
