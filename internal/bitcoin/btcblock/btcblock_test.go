package btcblock

import (
	"bytes"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/google/go-cmp/cmp"
)

// TestParseBlockMatchesWire checks header fields and every txid against
// btcd's own decoder and hashing when the filter keeps everything.
func TestParseBlockMatchesWire(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	blk := genBlock(rng, 200)
	got, err := ParseBlock(serializeBlock(t, blk), 42, &chaincfg.RegressionNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := blk.Header.BlockHash().String(); got.Hash != want {
		t.Errorf("Hash = %s, want %s", got.Hash, want)
	}
	if want := blk.Header.PrevBlock.String(); got.Prev != want {
		t.Errorf("Prev = %s, want %s", got.Prev, want)
	}
	if got.Height != 42 || got.Time != blk.Header.Timestamp.Unix() {
		t.Errorf("Height, Time = %d, %d; want 42, %d", got.Height, got.Time, blk.Header.Timestamp.Unix())
	}
	if len(got.Txs) != len(blk.Transactions) {
		t.Fatalf("%d txs, want %d", len(got.Txs), len(blk.Transactions))
	}
	for i, tx := range blk.Transactions {
		if want := tx.TxHash().String(); got.Txs[i].ID != want {
			t.Errorf("tx %d: ID = %s, want %s", i, got.Txs[i].ID, want)
		}
		if i == 0 && len(got.Txs[0].Spends) != 0 {
			t.Errorf("coinbase Spends = %v, want none", got.Txs[0].Spends)
		}
		if i > 0 && len(got.Txs[i].Spends) != len(tx.TxIn) {
			t.Errorf("tx %d: %d spends, want %d", i, len(got.Txs[i].Spends), len(tx.TxIn))
		}
	}
}

// TestParseBlockFilter builds a small block by hand and checks which
// transactions a filter keeps and exactly what each carries.
func TestParseBlockFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	params := &chaincfg.RegressionNetParams
	watched := chain.Key(randBytes(rng, 20))
	pub := compressedPub(rng)

	// paying: a segwit payment to the watched key (output 1), RBF.
	paying := wire.NewMsgTx(2)
	in := p2wpkhIn(rng, pub)
	in.Sequence = 0xfffffffd
	paying.AddTxIn(in)
	paying.AddTxOut(wire.NewTxOut(5000, p2pkhScript(randBytes(rng, 20))))
	paying.AddTxOut(wire.NewTxOut(123_456, p2wpkhScript(watched[:])))

	// spending: a legacy tx spending paying:1, final sequence.
	spending := wire.NewMsgTx(1)
	payingHash := paying.TxHash()
	legacyPub := compressedPub(rng)
	sp := p2pkhIn(rng, legacyPub)
	sp.PreviousOutPoint = *wire.NewOutPoint(&payingHash, 1)
	spending.AddTxIn(sp)
	spending.AddTxOut(wire.NewTxOut(100_000, p2wpkhScript(randBytes(rng, 20))))

	// unrelated: pays an unwatched key.
	unrelated := wire.NewMsgTx(2)
	unrelated.AddTxIn(p2wpkhIn(rng, compressedPub(rng)))
	unrelated.AddTxOut(wire.NewTxOut(1, p2wpkhScript(randBytes(rng, 20))))

	blk := genBlock(rng, 0)
	for _, tx := range []*wire.MsgTx{paying, spending, unrelated} {
		blk.AddTransaction(tx)
	}
	raw := serializeBlock(t, blk)
	filter := keySet{
		keys:   map[chain.Key]struct{}{watched: {}},
		spends: map[chain.Outpoint]struct{}{{TxID: payingHash.String(), Index: 1}: {}},
	}
	got, err := ParseBlock(raw, 7, params, filter)
	if err != nil {
		t.Fatal(err)
	}
	legacyAddr, _ := address.NewAddressPubKeyHash(address.Hash160(legacyPub), params)
	want := []chain.Tx{
		{
			ID:      payingHash.String(),
			Spends:  []chain.Outpoint{{TxID: in.PreviousOutPoint.Hash.String(), Index: in.PreviousOutPoint.Index}},
			Outputs: []chain.Output{{Index: 1, Key: watched, Amount: big.NewInt(123_456)}},
			RBF:     true,
			From:    wpkhAddr(t, pub, params),
		},
		{
			ID:      spending.TxHash().String(),
			Spends:  []chain.Outpoint{{TxID: payingHash.String(), Index: 1}},
			Outputs: []chain.Output{{Index: 0, Key: chain.Key(spending.TxOut[0].PkScript[2:]), Amount: big.NewInt(100_000)}},
			From:    legacyAddr.EncodeAddress(),
		},
	}
	if diff := cmp.Diff(want, got.Txs, cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("kept txs (-want +got):\n%s", diff)
	}
}

func TestParseTxFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	params := &chaincfg.TestNet3Params
	pub := compressedPub(rng)
	prog := address.Hash160(pub)
	nested := append([]byte{0x16}, p2wpkhScript(prog)...)
	nestedAddr, _ := address.NewAddressScriptHash(nested[1:], params)
	p2pkhAddr, _ := address.NewAddressPubKeyHash(prog, params)

	wrongNested := append([]byte{0x16}, p2wpkhScript(randBytes(rng, 20))...)
	tests := []struct {
		name string
		in   func() *wire.TxIn
		want string
	}{
		{"native P2WPKH", func() *wire.TxIn { return p2wpkhIn(rng, pub) }, wpkhAddr(t, pub, params)},
		{"P2SH-wrapped P2WPKH", func() *wire.TxIn {
			in := p2wpkhIn(rng, pub)
			in.SignatureScript = nested
			return in
		}, nestedAddr.EncodeAddress()},
		{"wrapped program not matching the key", func() *wire.TxIn {
			in := p2wpkhIn(rng, pub)
			in.SignatureScript = wrongNested
			return in
		}, ""},
		{"P2PKH", func() *wire.TxIn { return p2pkhIn(rng, pub) }, p2pkhAddr.EncodeAddress()},
		{"uncompressed key in witness", func() *wire.TxIn {
			in := p2wpkhIn(rng, pub)
			in.Witness[1] = append([]byte{4}, randBytes(rng, 64)...)
			return in
		}, ""},
		{"three-item witness (script spend)", func() *wire.TxIn {
			in := p2wpkhIn(rng, pub)
			in.Witness = append(in.Witness, []byte{0x51})
			return in
		}, ""},
		{"bare multisig-like script", func() *wire.TxIn {
			in := p2pkhIn(rng, pub)
			in.SignatureScript = append(in.SignatureScript, 0x00)
			return in
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := wire.NewMsgTx(2)
			tx.AddTxIn(tc.in())
			tx.AddTxOut(wire.NewTxOut(1, p2wpkhScript(prog)))
			got, err := ParseTx(serializeTx(t, tx), params)
			if err != nil {
				t.Fatal(err)
			}
			if got.From != tc.want {
				t.Errorf("From = %q, want %q", got.From, tc.want)
			}
			if got.ID != tx.TxHash().String() {
				t.Errorf("ID = %s, want %s", got.ID, tx.TxHash())
			}
			if got.RBF {
				t.Error("RBF set for final sequences")
			}
		})
	}
}

// TestParseTxFromSecondInput checks From falls through to the first input
// that reveals an address.
func TestParseTxFromSecondInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	pub := compressedPub(rng)
	tx := wire.NewMsgTx(2)
	opaque := p2wpkhIn(rng, pub)
	opaque.Witness = wire.TxWitness{{0x51}}
	tx.AddTxIn(opaque)
	tx.AddTxIn(p2wpkhIn(rng, pub))
	tx.AddTxOut(wire.NewTxOut(1, p2pkhScript(randBytes(rng, 20))))
	got, err := ParseTx(serializeTx(t, tx), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if want := wpkhAddr(t, pub, &chaincfg.MainNetParams); got.From != want {
		t.Errorf("From = %q, want %q", got.From, want)
	}
	if len(got.Outputs) != 0 {
		t.Errorf("Outputs = %v, want none (P2PKH is not a Key)", got.Outputs)
	}
}

func TestParseMalformed(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	blk := genBlock(rng, 3)
	good := serializeBlock(t, blk)
	txRaw := serializeTx(t, blk.Transactions[1])
	header := good[:80]

	tooRich := wire.NewMsgTx(2)
	tooRich.AddTxIn(p2wpkhIn(rng, compressedPub(rng)))
	tooRich.AddTxOut(wire.NewTxOut(21_000_000*100_000_000+1, p2wpkhScript(randBytes(rng, 20))))
	negative := wire.NewMsgTx(2)
	negative.AddTxIn(p2wpkhIn(rng, compressedPub(rng)))
	negative.AddTxOut(wire.NewTxOut(-1, p2wpkhScript(randBytes(rng, 20))))

	blocks := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"header only", header},
		{"zero transactions", append(bytes.Clone(header), 0)},
		{"huge transaction count", append(bytes.Clone(header), 0xfe, 0xff, 0xff, 0xff, 0x7f)},
		{"non-canonical count", append(bytes.Clone(header), 0xfd, 0x01, 0x00)},
		{"truncated last byte", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"bad segwit flag", append(append(bytes.Clone(header), 1), 2, 0, 0, 0, 0, 2)},
	}
	for _, tc := range blocks {
		t.Run("block/"+tc.name, func(t *testing.T) {
			_, err := ParseBlock(tc.raw, 1, &chaincfg.MainNetParams, nil)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
	txs := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"truncated", txRaw[:len(txRaw)-3]},
		{"trailing byte", append(bytes.Clone(txRaw), 0)},
		{"amount above supply", serializeTx(t, tooRich)},
		{"negative amount", serializeTx(t, negative)},
		{"script length past end", []byte{1, 0, 0, 0, 1, 0xfd, 0xff, 0xff}},
	}
	for _, tc := range txs {
		t.Run("tx/"+tc.name, func(t *testing.T) {
			_, err := ParseTx(tc.raw, &chaincfg.MainNetParams)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("every truncation of a block fails", func(t *testing.T) {
		for n := range len(good) {
			if _, err := ParseBlock(good[:n], 1, &chaincfg.MainNetParams, nil); err == nil {
				t.Fatalf("prefix of %d/%d bytes parsed without error", n, len(good))
			}
		}
	})
	t.Run("nil params", func(t *testing.T) {
		if _, err := ParseBlock(good, 1, nil, nil); err == nil {
			t.Error("ParseBlock accepted nil params")
		}
		if _, err := ParseTx(txRaw, nil); err == nil {
			t.Error("ParseTx accepted nil params")
		}
	})
}

// TestGenesis parses the real mainnet genesis block, whose hash every
// Bitcoin user knows.
func TestGenesis(t *testing.T) {
	var buf bytes.Buffer
	if err := chaincfg.MainNetParams.GenesisBlock.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ParseBlock(buf.Bytes(), 0, &chaincfg.MainNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f" {
		t.Errorf("genesis hash = %s", got.Hash)
	}
	if got.Prev != (chainhash.Hash{}).String() || len(got.Txs) != 1 {
		t.Errorf("Prev = %s, %d txs", got.Prev, len(got.Txs))
	}
	if got.Txs[0].ID != "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b" {
		t.Errorf("genesis coinbase txid = %s", got.Txs[0].ID)
	}
}
