package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// A store's account key (the xpub its deposit addresses derive from) can
// be replaced, for example after moving to a new wallet. Invoices already
// created keep their addresses, which stay watched; only new invoices
// derive from the new key. Indexes count per key
// (storage.Tx.ReplaceWalletKey): a key new to the store starts at index
// 0, so the wallet restored from it (scanning from 0 with a gap limit of
// 20) sees every payment; a key the store held before resumes past every
// index reserved under it, so no address is handed out twice (address.go
// keeps blocks of the old and the new key apart). A key a store ever used
// stays that store's: the wallets table holds the
// current keys (one store per key), the gateway's audit log the replaced
// ones (each replacement records the old key there, in its transaction),
// and a key found in either for another store is refused.

// AuditStoreAccountKeyReplaced records a replaced account key in the
// store's log, with both fingerprints and the index the new key starts
// at. AuditWalletKeyRetired records the old key in the gateway's own log
// (outside any store), where keyUsedElsewhere finds every retired key with
// one query.
const (
	AuditStoreAccountKeyReplaced = "store.account_key_replaced"
	AuditWalletKeyRetired        = "wallet_key.retired"
)

// AccountKeyPreview is what replacing the key would do, for the owner to
// compare with their wallet before confirming: the new key's fingerprint,
// the index it starts at (0 for a key new to the store; Resumed when the
// store held it before) and the address the next invoice gets.
type AccountKeyPreview struct {
	Network        cryptopay.Network
	OldFingerprint string
	Fingerprint    string
	FirstIndex     uint32
	FirstAddress   string
	Resumed        bool   // the store held the key before; it resumes past its last used index
	AccountKey     string // normalised (white space removed)
}

var errKeyElsewhere = &cryptopay.Error{Code: cryptopay.CodeConflict, Param: "account_key",
	Message: "This account key belongs, or belonged, to another store; two stores on one key would hand out the same deposit addresses. Export a separate account (for example m/84'/0'/1') for this store."}

// PreviewAccountKey checks a new account key for the store's wallet on
// network without changing anything. Errors are CodeInvalid errors naming
// network or account_key, or a CodeConflict when the key is another
// store's. A private key is refused and never echoed.
func (s *Service) PreviewAccountKey(ctx context.Context, storeID, network, accountKey string) (*AccountKeyPreview, error) {
	st, err := s.GetStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	return s.previewKey(ctx, st, network, accountKey)
}

func (s *Service) previewKey(ctx context.Context, st *cryptopay.Store, network, accountKey string) (*AccountKeyPreview, error) {
	n, err := cryptopay.ParseNetwork("network", network)
	if err != nil {
		return nil, err
	}
	w, ok := st.Wallet(n)
	if !ok {
		return nil, cryptopay.Invalid("network", "The store has no wallet on %s.", n)
	}
	if n.EVM() {
		return nil, cryptopay.Invalid("network", "The receiving address on %s cannot be replaced here: the deposit forwarders of open invoices send to it.", n)
	}
	key := strings.Join(strings.Fields(accountKey), "")
	if key == "" {
		return nil, cryptopay.Invalid("account_key", "Paste the account's extended public key (xpub, zpub, tpub or vpub).")
	}
	k, err := account.ParseKey(key, accountNetwork(n))
	if err != nil {
		return nil, cryptopay.Invalid("account_key", "%s", err.Error())
	}
	if k.Fingerprint() == w.Fingerprint {
		return nil, cryptopay.Invalid("account_key", "This is the store's current account key.")
	}
	if used, err := s.keyUsedElsewhere(ctx, n, k.Fingerprint(), st.ID); err != nil {
		return nil, err
	} else if used {
		return nil, errKeyElsewhere
	}
	start, resumed, err := s.db.WalletKeyResumeIndex(ctx, st.ID, n, k.Fingerprint())
	if err != nil {
		return nil, err
	}
	p := &AccountKeyPreview{Network: n, OldFingerprint: w.Fingerprint, Fingerprint: k.Fingerprint(), Resumed: resumed, AccountKey: key}
	if err := p.firstAddress(k, start); err != nil {
		return nil, err
	}
	return p, nil
}

// firstAddress sets the first index from start that has an address (BIP32
// skips an invalid child, as the invoice path does) and its address.
func (p *AccountKeyPreview) firstAddress(k *account.Key, start uint32) error {
	for idx := start; ; idx++ {
		a, err := k.Address(idx)
		if errors.Is(err, account.ErrUnusableIndex) {
			continue
		}
		if err != nil {
			return cryptopay.Invalid("account_key", "%s", err.Error())
		}
		p.FirstIndex, p.FirstAddress = idx, a.String
		return nil
	}
}

// ReplaceAccountKey makes the store derive new invoices' addresses from
// accountKey, after the checks of PreviewAccountKey, with its audit entry
// in one transaction. wantFingerprint must be the preview's fingerprint:
// the owner confirmed that key, and no other.
func (s *Service) ReplaceAccountKey(ctx context.Context, storeID, network, accountKey, wantFingerprint string) (*AccountKeyPreview, error) {
	st, err := s.GetStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	p, err := s.previewKey(ctx, st, network, accountKey)
	if err != nil {
		return nil, err
	}
	if p.Fingerprint != wantFingerprint {
		return nil, cryptopay.Invalid("account_key", "The key is not the one you confirmed; check it again.")
	}
	var gen int64
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		cur, err := tx.LockStore(ctx, st.ID)
		if err != nil {
			return err
		}
		if w, _ := cur.Wallet(p.Network); w.Fingerprint != p.OldFingerprint {
			return cryptopay.Errorf(cryptopay.CodeConflict, "The store's account key changed meanwhile; reload the page.")
		}
		nw, err := tx.ReplaceWalletKey(ctx, st.ID, p.Network, p.AccountKey, p.Fingerprint)
		if err != nil {
			return err
		}
		// The start the transaction read, in case it moved since the
		// preview (the key came back to this store meanwhile).
		gen = nw.KeyGeneration
		if nw.NextIndex != p.FirstIndex {
			k, err := s.accountKey(st.ID, nw)
			if err != nil {
				return err
			}
			if err := p.firstAddress(k, nw.NextIndex); err != nil {
				return err
			}
		}
		if err := s.Audit(ctx, tx, AuditRecord{StoreID: st.ID, Livemode: st.Livemode, Action: AuditStoreAccountKeyReplaced, Target: st.ID,
			Details: map[string]any{"network": p.Network, "old_fingerprint": p.OldFingerprint, "fingerprint": p.Fingerprint, "first_index": p.FirstIndex}}); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{Livemode: st.Livemode, Action: AuditWalletKeyRetired, Target: p.OldFingerprint,
			Details: map[string]any{"network": p.Network, "fingerprint": p.OldFingerprint, "store": st.ID}})
	})
	if ce, ok := errors.AsType[*storage.ConflictError](err); ok && ce.Constraint == "wallets_network_fingerprint_key" {
		return nil, errKeyElsewhere
	}
	if err != nil {
		return nil, fmt.Errorf("replace account key: %w", err)
	}
	// This process derives from the new key at once: its pool drops the
	// blocks reserved under the old key (their indexes stay unused, within
	// the old key's gap limit) and a block in flight comes back under the
	// key it was reserved with. Other instances follow at their next
	// reservation or store read (address.go).
	s.stores.mu.Lock()
	delete(s.stores.entries, st.ID)
	s.stores.mu.Unlock()
	s.keyReplaced(st.ID, p.Network, gen)
	return p, nil
}

// keyUsedElsewhere reports whether a store other than storeID holds the
// key (fingerprint on network) now (the wallets) or held it before (the
// gateway's wallet_key.retired entries).
func (s *Service) keyUsedElsewhere(ctx context.Context, n cryptopay.Network, fingerprint, storeID string) (bool, error) {
	stores, err := s.db.ListStores(ctx)
	if err != nil {
		return false, err
	}
	for _, st := range stores {
		if w, ok := st.Wallet(n); ok && st.ID != storeID && w.Fingerprint == fingerprint {
			return true, nil
		}
	}
	f := storage.AuditFilter{Livemode: n.Livemode(), Action: AuditWalletKeyRetired, Limit: maxListLimit}
	for {
		es, more, err := s.db.ListAuditEntries(ctx, f)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			var d struct {
				Network     string `json:"network"`
				Fingerprint string `json:"fingerprint"`
				Store       string `json:"store"`
			}
			if json.Unmarshal([]byte(e.Details), &d) == nil && d.Network == string(n) && d.Fingerprint == fingerprint && d.Store != storeID {
				return true, nil
			}
		}
		if !more || len(es) == 0 {
			return false, nil
		}
		f.BeforeSeq = es[len(es)-1].Seq
	}
}
