package btcblock

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/cryptopay/cryptopay/internal/chain"
)

// cursor reads a byte slice front to back. Once a read runs past the end it
// stays bad and every later read returns zero values, so callers check bad
// once after a group of reads instead of after each one.
type cursor struct {
	b   []byte
	p   int
	bad bool
}

func (c *cursor) take(n int) []byte {
	if c.bad || n < 0 || n > len(c.b)-c.p {
		c.bad = true
		return nil
	}
	s := c.b[c.p : c.p+n]
	c.p += n
	return s
}

func (c *cursor) skip(n int) {
	if c.bad || n < 0 || n > len(c.b)-c.p {
		c.bad = true
		return
	}
	c.p += n
}

func (c *cursor) u8() byte {
	if c.bad || c.p >= len(c.b) {
		c.bad = true
		return 0
	}
	v := c.b[c.p]
	c.p++
	return v
}

// varint reads a CompactSize integer and, like btcd's wire package,
// rejects non-canonical encodings so two parsers never disagree on bytes.
func (c *cursor) varint() uint64 {
	d := c.u8()
	switch d {
	case 0xfd:
		s := c.take(2)
		if s == nil {
			return 0
		}
		v := uint64(binary.LittleEndian.Uint16(s))
		if v < 0xfd {
			c.bad = true
		}
		return v
	case 0xfe:
		s := c.take(4)
		if s == nil {
			return 0
		}
		v := uint64(binary.LittleEndian.Uint32(s))
		if v <= 0xffff {
			c.bad = true
		}
		return v
	case 0xff:
		s := c.take(8)
		if s == nil {
			return 0
		}
		v := binary.LittleEndian.Uint64(s)
		if v <= 0xffffffff {
			c.bad = true
		}
		return v
	}
	return uint64(d)
}

// count reads a CompactSize element count and refuses one that could not
// fit in the remaining bytes at minSize bytes per element, so a hostile
// count never sizes an allocation or a long loop.
func (c *cursor) count(minSize int) int {
	v := c.varint()
	if c.bad {
		return 0
	}
	if v > uint64((len(c.b)-c.p)/minSize) {
		c.bad = true
		return 0
	}
	return int(v)
}

// varBytes reads a CompactSize length prefix and the bytes it announces.
func (c *cursor) varBytes() []byte {
	v := c.varint()
	if c.bad || v > uint64(len(c.b)-c.p) {
		c.bad = true
		return nil
	}
	return c.take(int(v))
}

// layout records where the parts of one transaction lie in the raw bytes,
// so a kept transaction can be decoded and hashed without a second scan of
// its structure.
type layout struct {
	start     int // version
	bodyStart int // input count (after the segwit marker and flag)
	outStart  int // output count
	outEnd    int // end of outputs: witness data or lock time follows
	lockStart int // lock time
	segwit    bool
	nIn       int
}

// scratch is reused across the transactions of one parse: input and
// witness offsets of the transaction just scanned, and a hasher.
type scratch struct {
	ins []int // offset of each input
	wit []int // offset of each input's witness stack; valid when segwit
	h   hash.Hash
}

var errTruncated = errors.New("truncated or malformed field")

// scanTx walks one transaction at c, records its layout and reports
// whether want keeps it (always, when want is nil).
func scanTx(c *cursor, want Filter, sc *scratch) (layout, bool, error) {
	lay := layout{start: c.p}
	c.skip(4)
	lay.bodyStart = c.p
	// Minimum input: 32-byte hash, 4-byte index, empty script, sequence.
	nIn := c.count(41)
	if c.bad {
		return lay, false, errTruncated
	}
	if nIn == 0 {
		// A zero input count is the segwit marker; as in btcd's wire
		// package, the flag that follows must be 1.
		if c.u8() != 0x01 || c.bad {
			return lay, false, errors.New("bad segwit flag")
		}
		lay.segwit = true
		lay.bodyStart = c.p
		nIn = c.count(41)
		if c.bad {
			return lay, false, errTruncated
		}
	}
	lay.nIn = nIn
	sc.ins = sc.ins[:0]
	for range nIn {
		sc.ins = append(sc.ins, c.p)
		c.skip(36)
		l := c.varint()
		if c.bad || l > uint64(len(c.b)-c.p) {
			return lay, false, errTruncated
		}
		c.skip(int(l) + 4)
	}
	lay.outStart = c.p
	nOut := c.count(9)
	if c.bad {
		return lay, false, errTruncated
	}
	keep := want == nil
	for range nOut {
		c.skip(8)
		script := c.varBytes()
		if c.bad {
			return lay, false, errTruncated
		}
		if !keep && isP2WPKH(script) && want.HasKey(chain.Key(script[2:22])) {
			keep = true
		}
	}
	lay.outEnd = c.p
	if lay.segwit {
		sc.wit = sc.wit[:0]
		for range nIn {
			sc.wit = append(sc.wit, c.p)
			items := c.count(1)
			for range items {
				c.varBytes()
			}
			if c.bad {
				return lay, false, errTruncated
			}
		}
	}
	lay.lockStart = c.p
	c.skip(4)
	if c.bad {
		return lay, false, errTruncated
	}
	if !keep {
		for _, off := range sc.ins {
			prev := c.b[off : off+36]
			if isNullOutpoint(prev) {
				continue
			}
			if want.HasSpend(chain.Outpoint{TxID: hexRev(prev[:32]), Index: le32(prev[32:36])}) {
				keep = true
				break
			}
		}
	}
	return lay, keep, nil
}

// buildTx decodes the transaction scanTx just laid out into a chain.Tx.
// sc must still hold that scan's offsets.
func buildTx(raw []byte, lay layout, params *chaincfg.Params, sc *scratch) (chain.Tx, error) {
	tx := chain.Tx{ID: txid(raw, lay, sc)}
	tx.Spends = make([]chain.Outpoint, 0, lay.nIn)
	for i, off := range sc.ins {
		c := cursor{b: raw, p: off}
		prev := c.take(36)
		script := c.varBytes()
		seq := c.take(4)
		if c.bad {
			return chain.Tx{}, errTruncated
		}
		if !isNullOutpoint(prev) {
			tx.Spends = append(tx.Spends, chain.Outpoint{TxID: hexRev(prev[:32]), Index: le32(prev[32:36])})
		}
		if le32(seq) < 0xfffffffe {
			tx.RBF = true
		}
		if tx.From == "" {
			var wit []byte
			if lay.segwit {
				wit = raw[sc.wit[i]:]
			}
			tx.From = inputAddress(script, wit, params)
		}
	}
	c := cursor{b: raw, p: lay.outStart}
	nOut := c.count(9)
	for i := range nOut {
		v := c.take(8)
		script := c.varBytes()
		if c.bad {
			return chain.Tx{}, errTruncated
		}
		if !isP2WPKH(script) {
			continue
		}
		amt, err := amount(binary.LittleEndian.Uint64(v))
		if err != nil {
			return chain.Tx{}, err
		}
		tx.Outputs = append(tx.Outputs, chain.Output{Index: uint32(i), Key: chain.Key(script[2:22]), Amount: amt})
	}
	if c.bad {
		return chain.Tx{}, errTruncated
	}
	return tx, nil
}

// txid hashes the transaction without its segwit marker, flag and witness
// data, which is what makes a segwit txid immune to witness malleation.
func txid(raw []byte, lay layout, sc *scratch) string {
	var first [32]byte
	if !lay.segwit {
		first = sha256.Sum256(raw[lay.start : lay.lockStart+4])
	} else {
		if sc.h == nil {
			sc.h = sha256.New()
		}
		sc.h.Reset()
		sc.h.Write(raw[lay.start : lay.start+4])
		sc.h.Write(raw[lay.bodyStart:lay.outEnd])
		sc.h.Write(raw[lay.lockStart : lay.lockStart+4])
		sc.h.Sum(first[:0])
	}
	second := sha256.Sum256(first[:])
	return hexRev(second[:])
}

// inputAddress derives the address an input spends from, when the input
// itself reveals it: native P2WPKH (empty script, witness <sig> <pubkey>),
// P2SH-wrapped P2WPKH (script pushing the matching v0 program) and P2PKH
// (script <sig> <pubkey>). Anything else yields "". wit starts at the
// input's witness stack and may be nil.
func inputAddress(script, wit []byte, params *chaincfg.Params) string {
	if pub, ok := witnessPubKey(wit); ok {
		h := address.Hash160(pub)
		switch {
		case len(script) == 0:
			a, err := address.NewAddressWitnessPubKeyHash(h, params)
			if err == nil {
				return a.EncodeAddress()
			}
		case len(script) == 23 && script[0] == 0x16 && isP2WPKH(script[1:]) && bytes.Equal(script[3:], h):
			a, err := address.NewAddressScriptHash(script[1:], params)
			if err == nil {
				return a.EncodeAddress()
			}
		}
		return ""
	}
	if len(wit) > 0 && wit[0] != 0 {
		return "" // some other witness spend
	}
	if pub, ok := p2pkhPubKey(script); ok {
		a, err := address.NewAddressPubKeyHash(address.Hash160(pub), params)
		if err == nil {
			return a.EncodeAddress()
		}
	}
	return ""
}

// witnessPubKey returns the second item of a two-item witness stack when
// it is a compressed public key, the shape of a P2WPKH spend.
func witnessPubKey(wit []byte) ([]byte, bool) {
	if len(wit) == 0 {
		return nil, false
	}
	c := cursor{b: wit}
	if c.varint() != 2 {
		return nil, false
	}
	c.varBytes()
	pub := c.varBytes()
	if c.bad || len(pub) != 33 || (pub[0] != 0x02 && pub[0] != 0x03) {
		return nil, false
	}
	return pub, true
}

// p2pkhPubKey returns the public key of a script that is exactly two direct
// pushes, a signature and a compressed or uncompressed key.
func p2pkhPubKey(script []byte) ([]byte, bool) {
	c := cursor{b: script}
	n := int(c.u8())
	if n < 9 || n > 73 {
		return nil, false
	}
	c.skip(n)
	n = int(c.u8())
	pub := c.take(n)
	if c.bad || c.p != len(script) {
		return nil, false
	}
	switch {
	case n == 33 && (pub[0] == 0x02 || pub[0] == 0x03):
	case n == 65 && pub[0] == 0x04:
	default:
		return nil, false
	}
	return pub, true
}

func isP2WPKH(script []byte) bool {
	return len(script) == 22 && script[0] == 0x00 && script[1] == 0x14
}

// isNullOutpoint reports the all-zero hash and index 0xffffffff a coinbase
// input names; it spends nothing.
func isNullOutpoint(prev []byte) bool {
	if le32(prev[32:36]) != 0xffffffff {
		return false
	}
	for _, b := range prev[:32] {
		if b != 0 {
			return false
		}
	}
	return true
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func doubleSHA256(b []byte) [32]byte {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

const hexDigits = "0123456789abcdef"

// hexRev renders a hash in the byte-reversed hex that block explorers and
// node RPCs display.
func hexRev(h []byte) string {
	var buf [64]byte
	for i := range 32 {
		b := h[31-i]
		buf[2*i] = hexDigits[b>>4]
		buf[2*i+1] = hexDigits[b&0x0f]
	}
	return string(buf[:])
}
