package regtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Extended public key versions of BIP84 accounts (SLIP-132): zpub on
// mainnet, vpub on testnet, signet and regtest.
var (
	zpubVersion = []byte{0x04, 0xb2, 0x47, 0x46}
	vpubVersion = []byte{0x04, 0x5f, 0x1c, 0xf6}
)

const (
	externalChain = 0
	internalChain = 1
	// lookahead addresses are watched beyond the highest one handed out,
	// so payments from elsewhere to Address(i) are seen without a rescan.
	lookahead = 100
	// miningIndex is the internal-chain index of MiningAddress; change
	// starts after it. Keeping both off the external chain means a gateway
	// configured with AccountPub never mistakes a coinbase or change for a
	// customer's payment.
	miningIndex = 0
)

// Wallet is a BIP84 single-account wallet (m/84'/coin'/0') that tracks its
// own coins by scanning a node's blocks and signs its own P2WPKH
// transactions. It exists to play the customer (or a miner, or an attacker)
// against the gateway. Its methods are safe for concurrent use.
type Wallet struct {
	params  *chaincfg.Params
	account *hdkeychain.ExtendedKey // private
	pub     string

	mu         sync.Mutex
	scripts    map[string]keyPath // pkScript -> derivation
	next       [2]uint32          // addresses derived so far, per chain
	nextChange uint32
	utxos      map[wire.OutPoint]*utxo
	locked     map[wire.OutPoint]chainhash.Hash // spent by our unconfirmed tx
	sent       map[chainhash.Hash]*sentTx
	scanned    []blockUndo // index = height on the chain last synced
}

type keyPath struct{ chain, index uint32 }

type utxo struct {
	op       wire.OutPoint
	value    int64
	pkScript []byte
	height   int64
	coinbase bool
}

// blockUndo records what applying one block changed, so a reorg can be
// rolled back block by block.
type blockUndo struct {
	hash    chainhash.Hash
	created []wire.OutPoint
	spent   []*utxo
}

type sentTx struct {
	tx      *wire.MsgTx
	inputs  []*utxo
	fee     int64
	vsize   int64
	feeRate int64
}

// NewWallet derives the BIP84 account m/84'/coin'/0' from seed for params
// (coin 0 on mainnet, 1 elsewhere). It returns an error if the seed is not
// 16 to 64 bytes or derivation fails.
func NewWallet(seed []byte, params *chaincfg.Params) (*Wallet, error) {
	master, err := hdkeychain.NewMaster(seed, params)
	if err != nil {
		return nil, fmt.Errorf("regtest: wallet seed: %w", err)
	}
	account := master
	for _, i := range []uint32{84, params.HDCoinType, 0} {
		if account, err = account.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			return nil, fmt.Errorf("regtest: derive account: %w", err)
		}
	}
	neutered, err := account.Neuter()
	if err != nil {
		return nil, fmt.Errorf("regtest: %w", err)
	}
	version := vpubVersion
	if params.Net == chaincfg.MainNetParams.Net {
		version = zpubVersion
	}
	pub, err := neutered.CloneWithVersion(version)
	if err != nil {
		return nil, fmt.Errorf("regtest: %w", err)
	}
	w := &Wallet{
		params:     params,
		account:    account,
		pub:        pub.String(),
		scripts:    make(map[string]keyPath),
		nextChange: miningIndex + 1,
		utxos:      make(map[wire.OutPoint]*utxo),
		locked:     make(map[wire.OutPoint]chainhash.Hash),
		sent:       make(map[chainhash.Hash]*sentTx),
	}
	if err := w.extend(externalChain, lookahead); err != nil {
		return nil, err
	}
	if err := w.extend(internalChain, lookahead); err != nil {
		return nil, err
	}
	return w, nil
}

// AccountPub is the account's extended public key as a merchant would
// export it: vpub (testnet/regtest) or zpub (mainnet).
func (w *Wallet) AccountPub() string { return w.pub }

// Address is the external (receive) address m/84'/coin'/0'/0/i.
func (w *Wallet) Address(i uint32) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.extend(externalChain, i+lookahead); err != nil {
		return "", err
	}
	a, _, err := w.derive(keyPath{externalChain, i})
	if err != nil {
		return "", err
	}
	return a.EncodeAddress(), nil
}

// MiningAddress is the internal address m/84'/coin'/0'/1/0; start a node
// with it (Options.MiningAddress) to fund the wallet by mining.
func (w *Wallet) MiningAddress() string {
	a, _, err := w.derive(keyPath{internalChain, miningIndex})
	if err != nil {
		panic(err) // derived successfully in NewWallet already
	}
	return a.EncodeAddress()
}

// derive returns the address and private key at an account-relative path.
func (w *Wallet) derive(p keyPath) (*address.AddressWitnessPubKeyHash, *btcec.PrivateKey, error) {
	c, err := w.account.Derive(p.chain)
	if err != nil {
		return nil, nil, fmt.Errorf("regtest: derive %d/%d: %w", p.chain, p.index, err)
	}
	k, err := c.Derive(p.index)
	if err != nil {
		return nil, nil, fmt.Errorf("regtest: derive %d/%d: %w", p.chain, p.index, err)
	}
	priv, err := k.ECPrivKey()
	if err != nil {
		return nil, nil, fmt.Errorf("regtest: derive %d/%d: %w", p.chain, p.index, err)
	}
	a, err := address.NewAddressWitnessPubKeyHash(address.Hash160(priv.PubKey().SerializeCompressed()), w.params)
	if err != nil {
		return nil, nil, fmt.Errorf("regtest: %w", err)
	}
	return a, priv, nil
}

// extend watches the chain's addresses up to index upto (inclusive).
// Callers hold w.mu (or own w exclusively).
func (w *Wallet) extend(chain, upto uint32) error {
	for ; w.next[chain] <= upto; w.next[chain]++ {
		a, _, err := w.derive(keyPath{chain, w.next[chain]})
		if err != nil {
			return err
		}
		w.scripts[string(p2wpkhScript(a))] = keyPath{chain, w.next[chain]}
	}
	return nil
}

// p2wpkhScript is OP_0 <20-byte program>.
func p2wpkhScript(a *address.AddressWitnessPubKeyHash) []byte {
	prog := a.WitnessProgram()
	return append([]byte{0x00, byte(len(prog))}, prog...)
}

// Sync brings the wallet's coins up to date with node's best chain,
// rolling back blocks that are no longer on it. It returns an error if the
// node cannot be read; the wallet then keeps its previous (consistent)
// view up to the last block applied.
func (w *Wallet) Sync(ctx context.Context, node *Node) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncLocked(ctx, node)
}

func (w *Wallet) syncLocked(ctx context.Context, node *Node) error {
	tip, err := node.BlockCount(ctx)
	if err != nil {
		return err
	}
	// Roll back to the last block both views share.
	for h := min(int64(len(w.scanned))-1, tip); h >= 0; h-- {
		hash, err := node.BlockHash(ctx, h)
		if err != nil {
			return err
		}
		if hash == w.scanned[h].hash.String() {
			break
		}
		w.rollbackTo(h)
	}
	w.rollbackTo(min(int64(len(w.scanned)), tip+1))
	for h := int64(len(w.scanned)); h <= tip; h++ {
		hash, err := node.BlockHash(ctx, h)
		if err != nil {
			return err
		}
		b, err := node.Block(ctx, hash)
		if err != nil {
			return err
		}
		if h > 0 && b.Header.PrevBlock != w.scanned[h-1].hash {
			// The node reorganised while we scanned; start over.
			return w.syncLocked(ctx, node)
		}
		w.apply(b, h)
	}
	w.releaseLocks()
	return nil
}

// rollbackTo undoes scanned blocks until len(w.scanned) == height.
func (w *Wallet) rollbackTo(height int64) {
	for int64(len(w.scanned)) > height {
		u := w.scanned[len(w.scanned)-1]
		w.scanned = w.scanned[:len(w.scanned)-1]
		// Restore before deleting: a coin created and spent in the same
		// block must end up absent.
		for _, c := range u.spent {
			w.utxos[c.op] = c
		}
		for _, op := range u.created {
			delete(w.utxos, op)
		}
	}
}

func (w *Wallet) apply(b *wire.MsgBlock, height int64) {
	u := blockUndo{hash: b.BlockHash()}
	for i, tx := range b.Transactions {
		if i > 0 {
			for _, in := range tx.TxIn {
				if c, ok := w.utxos[in.PreviousOutPoint]; ok {
					u.spent = append(u.spent, c)
					delete(w.utxos, in.PreviousOutPoint)
				}
			}
		}
		txid := tx.TxHash()
		for vout, out := range tx.TxOut {
			if _, ok := w.scripts[string(out.PkScript)]; !ok {
				continue
			}
			op := wire.OutPoint{Hash: txid, Index: uint32(vout)}
			w.utxos[op] = &utxo{op: op, value: out.Value, pkScript: out.PkScript, height: height, coinbase: i == 0}
			u.created = append(u.created, op)
		}
	}
	w.scanned = append(w.scanned, u)
}

// releaseLocks forgets locks on coins the chain has spent. Coins locked by
// a transaction that the network dropped stay locked; Unlock frees them.
func (w *Wallet) releaseLocks() {
	for op := range w.locked {
		if _, ok := w.utxos[op]; !ok {
			delete(w.locked, op)
		}
	}
}

// Unlock makes coins spent by the wallet's unconfirmed transactions
// spendable again (after the network dropped one, say).
func (w *Wallet) Unlock() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.locked)
}

// Balance is the value of the wallet's coins as of its last Sync: total
// counts every coin on the best chain, spendable only mature coins not
// spent by one of its own unconfirmed transactions.
func (w *Wallet) Balance() (total, spendable int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.utxos {
		total += c.value
	}
	for _, c := range w.spendable() {
		spendable += c.value
	}
	return total, spendable
}

// spendable lists coins usable as inputs of a transaction for the next
// block, oldest first so selection is deterministic.
func (w *Wallet) spendable() []*utxo {
	next := int64(len(w.scanned)) // height of the next block
	var out []*utxo
	for op, c := range w.utxos {
		if _, ok := w.locked[op]; ok {
			continue
		}
		if c.coinbase && next-c.height < int64(w.params.CoinbaseMaturity) {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *utxo) int {
		return cmp.Or(cmp.Compare(a.height, b.height),
			slices.Compare(a.op.Hash[:], b.op.Hash[:]),
			cmp.Compare(a.op.Index, b.op.Index))
	})
	return out
}

// ErrInsufficientFunds means the wallet's spendable coins (or the inputs of
// the transaction being replaced) cannot cover the amount and fee.
var ErrInsufficientFunds = errors.New("regtest: insufficient funds")
