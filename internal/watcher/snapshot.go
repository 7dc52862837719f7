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
// recent block hashes and every payment still tracked. It is written in
// the same transaction as the events of the block that produced it.
type snapshot struct {
	Version  int               `json:"v"`
	Recent   []chain.BlockRef  `json:"recent"`
	Payments []snapshotPayment `json:"payments"`
}

type snapshotPayment struct {
	TxID          string           `json:"txid"`
	Index         uint32           `json:"index"`
	Key           string           `json:"key"`
	Amount        string           `json:"amount"`
	Spends        []chain.Outpoint `json:"spends"`
	RBF           bool             `json:"rbf,omitempty"`
	From          string           `json:"from,omitempty"`
	Block         *chain.BlockRef  `json:"block,omitempty"`
	Confirmations int64            `json:"confirmations"`
	DoubleSpentBy string           `json:"double_spent_by,omitempty"`
}

func encodeSnapshot(t *tracker.Tracker) ([]byte, error) {
	s := snapshot{Version: 1, Recent: t.Recent()}
	for _, p := range t.Payments() {
		s.Payments = append(s.Payments, snapshotPayment{
			TxID: p.Outpoint.TxID, Index: p.Outpoint.Index, Key: hex.EncodeToString(p.Key[:]),
			Amount: p.Amount.String(), Spends: p.TxSpends, RBF: p.RBF, From: p.From,
			Block: p.Block, Confirmations: p.Confirmations, DoubleSpentBy: p.DoubleSpentBy,
		})
	}
	return json.Marshal(s)
}

func decodeSnapshot(b []byte) ([]chain.BlockRef, []tracker.Payment, error) {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("watcher: decode snapshot: %w", err)
	}
	if s.Version != 1 {
		return nil, nil, fmt.Errorf("watcher: snapshot version %d is not supported", s.Version)
	}
	out := make([]tracker.Payment, 0, len(s.Payments))
	for _, p := range s.Payments {
		var key chain.Key
		kb, err := hex.DecodeString(p.Key)
		if err != nil || len(kb) != len(key) {
			return nil, nil, fmt.Errorf("watcher: snapshot payment %s:%d: bad key", p.TxID, p.Index)
		}
		copy(key[:], kb)
		amount, ok := new(big.Int).SetString(p.Amount, 10)
		if !ok {
			return nil, nil, fmt.Errorf("watcher: snapshot payment %s:%d: bad amount", p.TxID, p.Index)
		}
		out = append(out, tracker.Payment{
			Outpoint: chain.Outpoint{TxID: p.TxID, Index: p.Index}, Key: key, Amount: amount,
			TxSpends: p.Spends, RBF: p.RBF, From: p.From, Block: p.Block,
			Confirmations: p.Confirmations, DoubleSpentBy: p.DoubleSpentBy,
		})
	}
	return s.Recent, out, nil
}
