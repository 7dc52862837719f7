package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// policyJSON fixes the stored shape of a confirmation policy independently
// of the Go field names. Thresholds are JSON integers decoded exactly by
// math/big.
type policyJSON struct {
	Currency string     `json:"currency"`
	Tiers    []tierJSON `json:"tiers"`
	Above    int        `json:"above"`
	ZeroConf *big.Int   `json:"zero_conf_below,omitempty"`
}

type tierJSON struct {
	Below         *big.Int `json:"below"`
	Confirmations int      `json:"confirmations"`
}

func encodePolicy(p cryptopay.ConfirmationPolicy) (string, error) {
	j := policyJSON{Currency: p.Currency, Above: p.Above, ZeroConf: p.ZeroConfBelow}
	if p.Tiers != nil {
		j.Tiers = make([]tierJSON, len(p.Tiers))
		for i, t := range p.Tiers {
			j.Tiers[i] = tierJSON(t)
		}
	}
	return toJSON(j)
}

func decodePolicy(s string) (cryptopay.ConfirmationPolicy, error) {
	var j policyJSON
	if err := fromJSON(s, &j); err != nil {
		return cryptopay.ConfirmationPolicy{}, err
	}
	p := cryptopay.ConfirmationPolicy{Currency: j.Currency, Above: j.Above, ZeroConfBelow: j.ZeroConf}
	if j.Tiers != nil {
		p.Tiers = make([]cryptopay.ConfirmationTier, len(j.Tiers))
		for i, t := range j.Tiers {
			p.Tiers[i] = cryptopay.ConfirmationTier(t)
		}
	}
	return p, nil
}

const storeCols = `id, name, livemode, default_currency, invoice_expiry_us, monitoring_window_us,
	tolerance_bps, confirmations, allow_pii, created_at, rate_spread_bps`

func scanStore(row interface{ Scan(...any) error }) (*cryptopay.Store, error) {
	var (
		s              cryptopay.Store
		expiry, window int64
		policy         string
		created        int64
	)
	if err := row.Scan(&s.ID, &s.Name, &s.Livemode, &s.DefaultCurrency, &expiry, &window,
		&s.ToleranceBasisPoints, &policy, &s.AllowPII, &created, &s.RateSpreadBasisPoints); err != nil {
		return nil, err
	}
	s.InvoiceExpiry = time.Duration(expiry) * time.Microsecond
	s.MonitoringWindow = time.Duration(window) * time.Microsecond
	s.CreatedAt = fromMicros(created)
	var err error
	if s.Confirmations, err = decodePolicy(policy); err != nil {
		return nil, err
	}
	return &s, nil
}

// GetStore returns the store with its wallets (ordered by network), or
// storage.ErrNotFound.
func (s *queries) GetStore(ctx context.Context, id string) (*cryptopay.Store, error) {
	var st *cryptopay.Store
	err := s.snapshot(ctx, func(s *queries) error {
		var err error
		st, err = scanStore(s.queryRow(ctx, `SELECT `+storeCols+` FROM stores WHERE id = ?`, id))
		if err != nil {
			return s.wrap("get store", err)
		}
		wallets, err := s.wallets(ctx, `WHERE store_id = ?`, id)
		st.Wallets = wallets[id]
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// ListStores returns every store with its wallets, oldest first.
func (s *queries) ListStores(ctx context.Context) ([]cryptopay.Store, error) {
	var out []cryptopay.Store
	err := s.snapshot(ctx, func(s *queries) error {
		rows, err := s.query(ctx, `SELECT `+storeCols+` FROM stores ORDER BY id`)
		if err != nil {
			return s.wrap("list stores", err)
		}
		defer rows.Close()
		for rows.Next() {
			st, err := scanStore(rows)
			if err != nil {
				return s.wrap("list stores", err)
			}
			out = append(out, *st)
		}
		if err := rows.Err(); err != nil {
			return s.wrap("list stores", err)
		}
		wallets, err := s.wallets(ctx, ``)
		for i := range out {
			out[i].Wallets = wallets[out[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// wallets returns wallets by store id; a store without wallets is absent,
// so its Wallets stay nil.
func (s *queries) wallets(ctx context.Context, where string, args ...any) (map[string][]cryptopay.Wallet, error) {
	rows, err := s.query(ctx, `SELECT store_id, network, account_key, fingerprint, next_index, key_generation
		FROM wallets `+where+` ORDER BY store_id, network`, args...)
	if err != nil {
		return nil, s.wrap("get wallets", err)
	}
	defer rows.Close()
	out := map[string][]cryptopay.Wallet{}
	for rows.Next() {
		var (
			storeID string
			w       cryptopay.Wallet
			next    int64
		)
		if err := rows.Scan(&storeID, &w.Network, &w.AccountKey, &w.Fingerprint, &next, &w.KeyGeneration); err != nil {
			return nil, s.wrap("get wallets", err)
		}
		if w.NextIndex, err = toUint32(next); err != nil {
			return nil, err
		}
		out[storeID] = append(out[storeID], w)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("get wallets", err)
	}
	return out, nil
}

// CreateStore inserts a store and its wallets. A duplicate id is a
// *storage.ConflictError on "stores_pkey"; two wallets on one network are
// one on "wallets_pkey".
func (t *Tx) CreateStore(ctx context.Context, st *cryptopay.Store) error {
	policy, err := encodePolicy(st.Confirmations)
	if err != nil {
		return fmt.Errorf("storage: create store: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO stores (`+storeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		st.ID, st.Name, st.Livemode, st.DefaultCurrency, st.InvoiceExpiry.Microseconds(),
		st.MonitoringWindow.Microseconds(), st.ToleranceBasisPoints, policy, st.AllowPII,
		micros(st.CreatedAt), st.RateSpreadBasisPoints); err != nil {
		return t.wrap("create store", err)
	}
	for _, w := range st.Wallets {
		if _, err := t.exec(ctx, `INSERT INTO wallets (store_id, network, account_key, fingerprint, next_index)
			VALUES (?, ?, ?, ?, ?)`,
			st.ID, string(w.Network), w.AccountKey, w.Fingerprint, int64(w.NextIndex)); err != nil {
			return t.wrap("create wallet", err)
		}
	}
	return nil
}

// maxAddressIndex bounds derivation indexes: BIP32 children derivable from
// an extended public key are the non-hardened ones, below 2^31.
const maxAddressIndex = 1<<31 - 1

// ErrAddressIndexExhausted: the wallet has used every non-hardened index.
var ErrAddressIndexExhausted = errors.New("storage: wallet has no unused address index left")

// ReserveAddressIndexes reserves n consecutive derivation indexes of the
// store's wallet on network under its current key and returns the first
// with that key, advancing next_index in one statement: the row update is
// atomic on both engines (SQLite has one writer; PostgreSQL locks the row
// until commit, and a concurrent updater re-reads it), so the key returned
// is the one the indexes were reserved under even while ReplaceWalletKey
// runs in another transaction. It returns storage.ErrNotFound when the
// store has no wallet on network and ErrAddressIndexExhausted past 2^31-1.
func (t *Tx) ReserveAddressIndexes(ctx context.Context, storeID string, network cryptopay.Network, n uint32) (storage.AddressBlock, error) {
	return t.reserveAddressIndexes(ctx, storeID, network, n)
}

// ReserveAddressIndexes is Tx.ReserveAddressIndexes in a transaction of
// its own (storage.AddressReserver). Its one statement is atomic alone, so
// where writers run concurrently (PostgreSQL) it runs without BEGIN and
// COMMIT, one round trip, on the reserved pool when ctx asks for priority;
// on SQLite it goes through the single writer as InTx does.
func (db *DB) ReserveAddressIndexes(ctx context.Context, storeID string, network cryptopay.Network, n uint32) (b storage.AddressBlock, err error) {
	if db.group != nil && !db.d.PriorityOwnTx {
		err = db.InTx(ctx, func(tx storage.Tx) error {
			b, err = tx.ReserveAddressIndexes(ctx, storeID, network, n)
			return err
		})
		return b, err
	}
	w := db.writer
	if db.priority != nil && storage.IsPriority(ctx) {
		w = db.priority
	}
	q := &queries{d: db.d, q: w, crypt: db.crypt}
	return q.reserveAddressIndexes(ctx, storeID, network, n)
}

func (t *queries) reserveAddressIndexes(ctx context.Context, storeID string, network cryptopay.Network, n uint32) (storage.AddressBlock, error) {
	var b storage.AddressBlock
	if n == 0 {
		return b, fmt.Errorf("storage: reserve address indexes: n must be at least 1")
	}
	var first int64
	err := t.queryRow(ctx, `UPDATE wallets SET next_index = next_index + ?
		WHERE store_id = ? AND network = ? RETURNING next_index - ?, account_key, fingerprint, key_generation`,
		int64(n), storeID, string(network), int64(n)).Scan(&first, &b.AccountKey, &b.Fingerprint, &b.KeyGeneration)
	if err != nil {
		return b, t.wrap("reserve address indexes", err)
	}
	if first < 0 || first+int64(n)-1 > maxAddressIndex {
		return storage.AddressBlock{}, ErrAddressIndexExhausted
	}
	b.First = uint32(first)
	return b, nil
}

// LockStore reads the store (with its wallets) and holds its row for the
// transaction, so a settings change reads and writes one version. Engines
// differ: PostgreSQL runs write transactions concurrently at READ
// COMMITTED, so the row is locked FOR UPDATE and a second writer waits;
// SQLite has one writer, the transaction is already alone, and FOR UPDATE
// does not parse there.
func (t *Tx) LockStore(ctx context.Context, id string) (*cryptopay.Store, error) {
	q := `SELECT ` + storeCols + ` FROM stores WHERE id = ?`
	if t.d.Name == "postgres" {
		q += ` FOR UPDATE`
	}
	st, err := scanStore(t.queryRow(ctx, q, id))
	if err != nil {
		return nil, t.wrap("lock store", err)
	}
	wallets, err := t.wallets(ctx, `WHERE store_id = ?`, id)
	if err != nil {
		return nil, err
	}
	st.Wallets = wallets[id]
	return st, nil
}

// UpdateStore writes the store's settings that may change after creation:
// name, invoice expiry, monitoring window, tolerance, confirmation policy
// and rate spread. Mode, currency, PII policy and wallets are not written.
// An unknown store is storage.ErrNotFound.
func (t *Tx) UpdateStore(ctx context.Context, st *cryptopay.Store) error {
	policy, err := encodePolicy(st.Confirmations)
	if err != nil {
		return fmt.Errorf("storage: update store: %w", err)
	}
	res, err := t.exec(ctx, `UPDATE stores SET name = ?, invoice_expiry_us = ?, monitoring_window_us = ?,
		tolerance_bps = ?, confirmations = ?, rate_spread_bps = ? WHERE id = ?`,
		st.Name, st.InvoiceExpiry.Microseconds(), st.MonitoringWindow.Microseconds(),
		st.ToleranceBasisPoints, policy, st.RateSpreadBasisPoints, st.ID)
	if err != nil {
		return t.wrap("update store", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return t.wrap("update store", err)
	} else if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ReplaceWalletKey points the store's wallet on network at another account
// key and returns the wallet as it now is. The old key's next_index goes
// to wallet_keys (never lowering what is there), and the new key starts
// at its own recorded index, or 0 when the store never held it: indexes
// count per key, so a wallet restored from the new key, scanning from 0
// with the usual gap limit, finds every payment, and no index of a key is
// handed out twice. The wallets row is read locked (FOR UPDATE on
// PostgreSQL; SQLite has one writer) so no reservation slips between the
// read of the old counter and the switch; a reservation before the switch
// counts under the old key, one after it under the new one, and each
// returns the key it used (ReserveAddressIndexes). A key held by another
// store's wallet is a *storage.ConflictError on
// "wallets_network_fingerprint_key"; a store without a wallet on network
// is storage.ErrNotFound.
func (t *Tx) ReplaceWalletKey(ctx context.Context, storeID string, network cryptopay.Network, accountKey, fingerprint string) (cryptopay.Wallet, error) {
	q := `SELECT fingerprint, next_index, key_generation FROM wallets WHERE store_id = ? AND network = ?`
	if t.d.Name == "postgres" {
		q += ` FOR UPDATE`
	}
	var (
		oldFingerprint string
		oldNext, gen   int64
	)
	if err := t.queryRow(ctx, q, storeID, string(network)).Scan(&oldFingerprint, &oldNext, &gen); err != nil {
		return cryptopay.Wallet{}, t.wrap("replace wallet key", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO wallet_keys (store_id, network, fingerprint, next_index) VALUES (?, ?, ?, ?)
		ON CONFLICT (store_id, network, fingerprint) DO UPDATE SET next_index =
			CASE WHEN excluded.next_index > wallet_keys.next_index THEN excluded.next_index ELSE wallet_keys.next_index END`,
		storeID, string(network), oldFingerprint, oldNext); err != nil {
		return cryptopay.Wallet{}, t.wrap("retire wallet key", err)
	}
	resume, _, err := t.WalletKeyResumeIndex(ctx, storeID, network, fingerprint)
	if err != nil {
		return cryptopay.Wallet{}, err
	}
	w := cryptopay.Wallet{Network: network, AccountKey: accountKey, Fingerprint: fingerprint, NextIndex: resume, KeyGeneration: gen + 1}
	if _, err := t.exec(ctx, `UPDATE wallets SET account_key = ?, fingerprint = ?, next_index = ?, key_generation = ?
		WHERE store_id = ? AND network = ?`,
		accountKey, fingerprint, int64(resume), w.KeyGeneration, storeID, string(network)); err != nil {
		return cryptopay.Wallet{}, t.wrap("replace wallet key", err)
	}
	return w, nil
}

// WalletKeyResumeIndex returns the next index recorded for a key the
// store's wallet on network held before, and false (index 0) for a key
// the store never held.
func (s *queries) WalletKeyResumeIndex(ctx context.Context, storeID string, network cryptopay.Network, fingerprint string) (uint32, bool, error) {
	var next int64
	err := s.queryRow(ctx, `SELECT next_index FROM wallet_keys WHERE store_id = ? AND network = ? AND fingerprint = ?`,
		storeID, string(network), fingerprint).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.wrap("get wallet key", err)
	}
	idx, err := toUint32(next)
	if err != nil {
		return 0, false, err
	}
	return idx, true, nil
}
