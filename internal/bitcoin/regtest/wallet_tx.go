package regtest

import (
	"bytes"
	"context"
	"fmt"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

const (
	defaultFeeRate = 2 // sat/vB; btcd's relay minimum is 1
	// dustChange is the smallest change output worth creating; anything
	// less goes to the fee (P2WPKH dust is 294 sat at the default relay fee).
	dustChange  = 1000
	rbfSequence = wire.MaxTxInSequenceNum - 2 // BIP125 opt-in
)

// Opts shape a transaction the wallet builds.
type Opts struct {
	// RBF signals BIP125 replaceability (nSequence 0xfffffffd on every
	// input). Without it inputs are final (0xffffffff) and btcd refuses to
	// replace the transaction.
	RBF bool
	// FeeRate is the fee in satoshi per virtual byte; 0 means 2 for Pay
	// and "twice the original's plus one" for Replace and DoubleSpend.
	FeeRate int64
}

// Pay syncs with node, builds a transaction paying sats to toAddr (change
// to a fresh internal address), signs it and submits it to node. It returns
// the txid and the serialized transaction. Errors: an invalid or
// wrong-network address or a non-positive amount; ErrInsufficientFunds; an
// *RPCError if the node rejects the transaction (the wallet then keeps the
// coins unspent).
func (w *Wallet) Pay(ctx context.Context, node *Node, toAddr string, sats int64, opts Opts) (string, []byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pkTo, err := w.outputScript(toAddr, sats)
	if err != nil {
		return "", nil, err
	}
	if err := w.syncLocked(ctx, node); err != nil {
		return "", nil, err
	}
	rate := opts.FeeRate
	if rate <= 0 {
		rate = defaultFeeRate
	}
	var inputs []*utxo
	var total int64
	for _, c := range w.spendable() {
		inputs = append(inputs, c)
		total += c.value
		if total >= sats+rate*estimateVsize(len(inputs), len(pkTo), true) {
			break
		}
	}
	rec, err := w.build(inputs, pkTo, sats, rate, opts.RBF)
	if err != nil {
		return "", nil, err
	}
	return w.submit(ctx, node, rec)
}

// Replace builds a BIP125 replacement of txid, one of this wallet's own
// transactions: the same inputs, paying sats to newTo, at a higher fee
// rate (Opts.FeeRate, or by default twice the original's plus one), and
// submits it to node. btcd accepts it only if the original signalled RBF
// and is still unconfirmed; otherwise the *RPCError says why.
func (w *Wallet) Replace(ctx context.Context, node *Node, txid, newTo string, sats int64, opts Opts) (string, []byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec, err := w.conflict(txid, newTo, sats, opts)
	if err != nil {
		return "", nil, err
	}
	return w.submit(ctx, node, rec)
}

// DoubleSpend builds a transaction conflicting with txid (same inputs,
// paying sats to to), submits it to miner and mines one block there, so
// the conflict is confirmed rather than merely relayed. miner must not hold
// the original in its mempool: use a second node disconnected before the
// original was sent, then Connect it after mining one block more than the
// other side so its branch wins. It returns the conflicting txid and the
// hash of the block that confirms it.
func (w *Wallet) DoubleSpend(ctx context.Context, miner *Node, txid, to string, sats int64, opts Opts) (string, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec, err := w.conflict(txid, to, sats, opts)
	if err != nil {
		return "", "", err
	}
	id, _, err := w.submit(ctx, miner, rec)
	if err != nil {
		return "", "", err
	}
	hashes, err := miner.Mine(ctx, 1)
	if err != nil {
		return "", "", err
	}
	b, err := miner.Block(ctx, hashes[0])
	if err != nil {
		return "", "", err
	}
	for _, tx := range b.Transactions {
		if tx.TxHash().String() == id {
			return id, hashes[0], nil
		}
	}
	return "", "", fmt.Errorf("regtest: double spend %s was not mined in block %s", id, hashes[0])
}

// conflict builds (without sending) a transaction spending exactly the
// inputs of the wallet's earlier transaction txid.
func (w *Wallet) conflict(txid, to string, sats int64, opts Opts) (*sentTx, error) {
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		return nil, fmt.Errorf("regtest: txid %q: %w", txid, err)
	}
	old, ok := w.sent[*h]
	if !ok {
		return nil, fmt.Errorf("regtest: %s is not a transaction this wallet sent", txid)
	}
	pkTo, err := w.outputScript(to, sats)
	if err != nil {
		return nil, err
	}
	rate := opts.FeeRate
	if rate <= 0 {
		rate = 2*old.feeRate + 1
	}
	return w.build(old.inputs, pkTo, sats, rate, opts.RBF)
}

// submit broadcasts a built transaction and, once the node accepted it,
// locks its inputs and remembers it for Replace and DoubleSpend.
func (w *Wallet) submit(ctx context.Context, node *Node, rec *sentTx) (string, []byte, error) {
	var buf bytes.Buffer
	if err := rec.tx.Serialize(&buf); err != nil {
		return "", nil, fmt.Errorf("regtest: serialize: %w", err)
	}
	txid, err := node.SendRawTransaction(ctx, buf.Bytes())
	if err != nil {
		return "", nil, err
	}
	h := rec.tx.TxHash()
	if txid != h.String() {
		return "", nil, fmt.Errorf("regtest: node returned txid %s for %s", txid, h)
	}
	for _, in := range rec.inputs {
		w.locked[in.op] = h
	}
	w.sent[h] = rec
	return txid, buf.Bytes(), nil
}

// outputScript validates a destination and amount.
func (w *Wallet) outputScript(to string, sats int64) ([]byte, error) {
	if sats <= 0 {
		return nil, fmt.Errorf("regtest: amount %d sat must be positive", sats)
	}
	a, err := address.DecodeAddress(to, w.params)
	if err != nil {
		return nil, fmt.Errorf("regtest: address %q: %w", to, err)
	}
	if !a.IsForNet(w.params) {
		return nil, fmt.Errorf("regtest: address %q is not for %s", to, w.params.Name)
	}
	return txscript.PayToAddrScript(a)
}

// build assembles and signs a transaction spending inputs, paying sats to
// pkTo and the rest less the fee to a fresh change address (or to the fee
// when the change would be dust).
func (w *Wallet) build(inputs []*utxo, pkTo []byte, sats, rate int64, rbf bool) (*sentTx, error) {
	var total int64
	for _, in := range inputs {
		total += in.value
	}
	seq := uint32(wire.MaxTxInSequenceNum)
	if rbf {
		seq = rbfSequence
	}
	tx := wire.NewMsgTx(2)
	for _, in := range inputs {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.op, Sequence: seq})
	}
	tx.AddTxOut(wire.NewTxOut(sats, pkTo))
	vsize := estimateVsize(len(inputs), len(pkTo), true)
	change := total - sats - rate*vsize
	if change >= dustChange {
		changeScript, err := w.newChangeScript()
		if err != nil {
			return nil, err
		}
		tx.AddTxOut(wire.NewTxOut(change, changeScript))
	} else {
		change = 0
		vsize = estimateVsize(len(inputs), len(pkTo), false)
		if total-sats < rate*vsize {
			return nil, fmt.Errorf("%w: have %d sat, need %d + fee %d", ErrInsufficientFunds, total, sats, rate*vsize)
		}
	}
	if err := w.sign(tx, inputs); err != nil {
		return nil, err
	}
	fee := total - sats - change
	real := txVsize(tx)
	return &sentTx{tx: tx, inputs: inputs, fee: fee, vsize: real, feeRate: (fee + real - 1) / real}, nil
}

func (w *Wallet) newChangeScript() ([]byte, error) {
	i := w.nextChange
	w.nextChange++
	if err := w.extend(internalChain, w.nextChange+lookahead); err != nil {
		return nil, err
	}
	a, _, err := w.derive(keyPath{internalChain, i})
	if err != nil {
		return nil, err
	}
	return p2wpkhScript(a), nil
}

// sign adds a P2WPKH witness (BIP143, SIGHASH_ALL) to every input and runs
// the script engine over the result, so a signing bug surfaces here rather
// than as an opaque rejection by the node.
func (w *Wallet) sign(tx *wire.MsgTx, inputs []*utxo) error {
	prev := make(map[wire.OutPoint]*wire.TxOut, len(inputs))
	for _, in := range inputs {
		prev[in.op] = wire.NewTxOut(in.value, in.pkScript)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prev)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range inputs {
		path, ok := w.scripts[string(in.pkScript)]
		if !ok {
			return fmt.Errorf("regtest: no key for input %v", in.op)
		}
		_, priv, err := w.derive(path)
		if err != nil {
			return err
		}
		wit, err := txscript.WitnessSignature(tx, hashes, i, in.value, in.pkScript, txscript.SigHashAll, priv, true)
		if err != nil {
			return fmt.Errorf("regtest: sign input %d: %w", i, err)
		}
		tx.TxIn[i].Witness = wit
	}
	for i, in := range inputs {
		vm, err := txscript.NewEngine(in.pkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, in.value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return fmt.Errorf("regtest: verify input %d: %w", i, err)
		}
	}
	return nil
}

// estimateVsize is an upper bound on the virtual size of a version-2
// transaction with n P2WPKH inputs (72-byte signatures), one output with a
// script of toScriptLen bytes, and optionally a P2WPKH change output.
func estimateVsize(n, toScriptLen int, withChange bool) int64 {
	base := 4 + 4 + varIntLen(n) + n*(36+1+4) // version, locktime, inputs
	outs := 1
	base += 8 + varIntLen(toScriptLen) + toScriptLen
	if withChange {
		outs++
		base += 8 + 1 + 22
	}
	base += varIntLen(outs)
	witness := 2 + n*(1+1+72+1+33) // marker+flag, then per input
	return int64((base*4 + witness + 3) / 4)
}

func varIntLen(n int) int {
	switch {
	case n < 0xfd:
		return 1
	case n <= 0xffff:
		return 3
	default:
		return 5
	}
}

// txVsize is BIP141 virtual size: weight / 4, rounded up.
func txVsize(tx *wire.MsgTx) int64 {
	weight := tx.SerializeSizeStripped()*3 + tx.SerializeSize()
	return int64((weight + 3) / 4)
}
