package btcblock

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/cryptopay/cryptopay/internal/chain"
)

// keySet is the benchmark and test filter: a set of watched keys and a set
// of watched outpoints.
type keySet struct {
	keys   map[chain.Key]struct{}
	spends map[chain.Outpoint]struct{}
}

func (s keySet) HasKey(k chain.Key) bool {
	_, ok := s.keys[k]
	return ok
}

func (s keySet) HasSpend(op chain.Outpoint) bool {
	_, ok := s.spends[op]
	return ok
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func p2wpkhScript(prog []byte) []byte { return append([]byte{0x00, 0x14}, prog...) }

func p2pkhScript(h []byte) []byte {
	s := []byte{0x76, 0xa9, 0x14}
	s = append(s, h...)
	return append(s, 0x88, 0xac)
}

// compressedPub returns 33 bytes shaped like a compressed public key. The
// parser only hashes keys, so they need not lie on the curve.
func compressedPub(rng *rand.Rand) []byte {
	p := randBytes(rng, 33)
	p[0] = 0x02 | p[0]&1
	return p
}

// p2wpkhIn is a native segwit input: empty script, witness <sig> <pubkey>.
func p2wpkhIn(rng *rand.Rand, pub []byte) *wire.TxIn {
	var h chainhash.Hash
	copy(h[:], randBytes(rng, 32))
	in := wire.NewTxIn(wire.NewOutPoint(&h, rng.Uint32N(4)), nil, [][]byte{randBytes(rng, 72), pub})
	return in
}

// p2pkhIn is a legacy input: script <sig> <pubkey>.
func p2pkhIn(rng *rand.Rand, pub []byte) *wire.TxIn {
	var h chainhash.Hash
	copy(h[:], randBytes(rng, 32))
	script := append([]byte{71}, randBytes(rng, 71)...)
	script = append(script, byte(len(pub)))
	script = append(script, pub...)
	return wire.NewTxIn(wire.NewOutPoint(&h, rng.Uint32N(4)), script, nil)
}

// genBlock builds a block of n transactions after a coinbase: a mix of
// segwit and legacy inputs and of P2WPKH and P2PKH outputs, roughly the
// shape of a mainnet block.
func genBlock(rng *rand.Rand, n int) *wire.MsgBlock {
	var prev, merkle chainhash.Hash
	copy(prev[:], randBytes(rng, 32))
	copy(merkle[:], randBytes(rng, 32))
	blk := wire.NewMsgBlock(wire.NewBlockHeader(0x20000000, &prev, &merkle, 0x1d00ffff, 7))
	blk.Header.Timestamp = time.Unix(1_700_000_000, 0)
	cb := wire.NewMsgTx(2)
	cb.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{}, 0xffffffff), []byte{3, 1, 2, 3}, [][]byte{make([]byte, 32)}))
	cb.AddTxOut(wire.NewTxOut(312_500_000, p2wpkhScript(randBytes(rng, 20))))
	blk.AddTransaction(cb)
	for range n {
		tx := wire.NewMsgTx(2)
		for range 1 + rng.IntN(3) {
			if rng.IntN(4) == 0 {
				tx.AddTxIn(p2pkhIn(rng, compressedPub(rng)))
			} else {
				tx.AddTxIn(p2wpkhIn(rng, compressedPub(rng)))
			}
		}
		for range 2 + rng.IntN(2) {
			v := int64(rng.Uint64N(100_000_000))
			if rng.IntN(3) == 0 {
				tx.AddTxOut(wire.NewTxOut(v, p2pkhScript(randBytes(rng, 20))))
			} else {
				tx.AddTxOut(wire.NewTxOut(v, p2wpkhScript(randBytes(rng, 20))))
			}
		}
		blk.AddTransaction(tx)
	}
	return blk
}

func serializeBlock(t testing.TB, blk *wire.MsgBlock) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := blk.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func serializeTx(t testing.TB, tx *wire.MsgTx) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func wpkhAddr(t testing.TB, pub []byte, params *chaincfg.Params) string {
	t.Helper()
	a, err := address.NewAddressWitnessPubKeyHash(address.Hash160(pub), params)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}
