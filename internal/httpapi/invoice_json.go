package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The invoice list is the API's largest response (up to 100 invoices with
// their payments), and encoding/json's reflection over invoiceBody was
// about a quarter of a list's CPU. appendJSON writes the same bytes
// encoding/json writes for the same value, field by field; a test
// compares the two over varied invoices and a fuzz target over arbitrary
// strings, so a field added to invoiceBody or paymentBody without its line
// here fails the test rather than silently disappearing from responses.

// jsonBufs holds response buffers between requests, so a page's encoding
// reuses the memory of the last one; buffers above maxPooledBuf (a page of
// invoices with large metadata) are left to the collector.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledBuf = 1 << 20

// writeJSONBytes is writeJSON for a body encode appended to a pooled
// buffer; when encode reports a value encoding/json would refuse (a time
// outside years 0–9999), fallback is written through writeJSON instead,
// so the response is exactly what writeJSON would have made of it.
func writeJSONBytes(w http.ResponseWriter, status int, encode func([]byte) ([]byte, bool), fallback func() any) {
	bp := jsonBufs.Get().(*[]byte)
	b, ok := encode((*bp)[:0])
	if !ok {
		writeJSON(w, status, fallback())
	} else {
		h := w.Header()
		h["Content-Type"] = hdrJSON // Header.Set, sparing its canonicalisation and slice
		h["Cache-Control"] = hdrNoStore
		w.WriteHeader(status)
		_, _ = w.Write(append(b, '\n'))
	}
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		jsonBufs.Put(bp)
	}
}

// appendInvoiceList appends {"object":"list","data":[...],"has_more":...}
// as encoding/json writes listBody[invoiceBody]; false if an invoice holds
// a value encoding/json refuses.
func appendInvoiceList(dst []byte, data []invoiceBody, more bool) ([]byte, bool) {
	dst = append(dst, `{"object":"list","data":`...)
	if data == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range data {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = data[i].appendJSON(dst); !ok {
				return dst, false
			}
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"has_more":`...)
	dst = strconv.AppendBool(dst, more)
	return append(dst, '}'), true
}

// appendJSON appends b as encoding/json marshals an invoiceBody; false if
// a time is outside the years encoding/json accepts.
func (b *invoiceBody) appendJSON(dst []byte) ([]byte, bool) {
	ok := true
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, b.ID)
	dst = append(dst, `,"object":`...)
	dst = appendJSONString(dst, b.Object)
	dst = append(dst, `,"livemode":`...)
	dst = strconv.AppendBool(dst, b.Livemode)
	dst = append(dst, `,"store_id":`...)
	dst = appendJSONString(dst, b.StoreID)
	dst = append(dst, `,"order_id":`...)
	dst = appendJSONString(dst, b.OrderID)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, string(b.Status))
	dst = append(dst, `,"flags":`...)
	dst = appendJSONStrings(dst, b.Flags)
	dst = append(dst, `,"amount":`...)
	dst = appendJSONString(dst, b.Amount)
	dst = append(dst, `,"amount_normalized":`...)
	dst = appendJSONString(dst, b.AmountNormalized)
	dst = append(dst, `,"currency":`...)
	dst = appendJSONString(dst, b.Currency)
	dst = append(dst, `,"network":`...)
	dst = appendJSONString(dst, string(b.Network))
	dst = append(dst, `,"asset":`...)
	dst = appendJSONString(dst, b.Asset)
	dst = append(dst, `,"crypto_amount":`...)
	dst = appendJSONString(dst, b.CryptoAmount)
	dst = append(dst, `,"crypto_amount_base_units":`...)
	dst = appendJSONString(dst, b.CryptoAmountBaseUnits)
	dst = append(dst, `,"amount_paid":`...)
	dst = appendJSONString(dst, b.AmountPaid)
	dst = append(dst, `,"amount_due":`...)
	dst = appendJSONString(dst, b.AmountDue)
	dst = append(dst, `,"rate":`...)
	dst = appendJSONOptional(dst, b.Rate)
	dst = append(dst, `,"rate_sources":`...)
	dst = appendJSONStrings(dst, b.RateSources)
	dst = append(dst, `,"rate_at":`...)
	dst, ok = appendJSONOptionalTime(dst, b.RateAt, ok)
	dst = append(dst, `,"rate_spread":`...)
	dst = appendJSONOptional(dst, b.RateSpread)
	dst = append(dst, `,"address":`...)
	dst = appendJSONString(dst, b.Address)
	dst = append(dst, `,"payment_uri":`...)
	dst = appendJSONString(dst, b.PaymentURI)
	dst = append(dst, `,"checkout_url":`...)
	dst = appendJSONString(dst, b.CheckoutURL)
	dst = append(dst, `,"required_confirmations":`...)
	dst = strconv.AppendInt(dst, int64(b.RequiredConfirmations), 10)
	dst = append(dst, `,"customer_reference":`...)
	dst = appendJSONOptional(dst, b.CustomerReference)
	dst = append(dst, `,"metadata":`...)
	dst = appendJSONMap(dst, b.Metadata)
	dst = append(dst, `,"redirect_url":`...)
	dst = appendJSONOptional(dst, b.RedirectURL)
	dst = append(dst, `,"created_at":`...)
	dst, ok = appendJSONTime(dst, b.CreatedAt, ok)
	dst = append(dst, `,"expires_at":`...)
	dst, ok = appendJSONTime(dst, b.ExpiresAt, ok)
	dst = append(dst, `,"monitor_until":`...)
	dst, ok = appendJSONTime(dst, b.MonitorUntil, ok)
	dst = append(dst, `,"settled_at":`...)
	dst, ok = appendJSONOptionalTime(dst, b.SettledAt, ok)
	dst = append(dst, `,"payments":`...)
	if b.Payments == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range b.Payments {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst, ok = b.Payments[i].appendJSON(dst, ok)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), ok
}

// appendJSON appends p as encoding/json marshals a paymentBody; ok turns
// false if its time is outside the years encoding/json accepts.
func (p *paymentBody) appendJSON(dst []byte, ok bool) ([]byte, bool) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, p.ID)
	dst = append(dst, `,"tx_id":`...)
	dst = appendJSONString(dst, p.TxID)
	dst = append(dst, `,"vout":`...)
	dst = strconv.AppendUint(dst, uint64(p.Vout), 10)
	dst = append(dst, `,"amount":`...)
	dst = appendJSONString(dst, p.Amount)
	dst = append(dst, `,"asset":`...)
	dst = appendJSONOptional(dst, p.Asset)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, string(p.Status))
	dst = append(dst, `,"confirmations":`...)
	dst = strconv.AppendInt(dst, p.Confirmations, 10)
	dst = append(dst, `,"block_hash":`...)
	dst = appendJSONOptional(dst, p.BlockHash)
	dst = append(dst, `,"block_height":`...)
	if p.BlockHeight == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, *p.BlockHeight, 10)
	}
	dst = append(dst, `,"rbf":`...)
	dst = strconv.AppendBool(dst, p.RBF)
	dst = append(dst, `,"from_address":`...)
	dst = appendJSONOptional(dst, p.FromAddress)
	dst = append(dst, `,"conflict_tx_id":`...)
	dst = appendJSONOptional(dst, p.ConflictTxID)
	dst = append(dst, `,"seen_at":`...)
	dst, ok = appendJSONTime(dst, p.SeenAt, ok)
	dst = append(dst, `,"released_at":`...)
	dst, ok = appendJSONOptionalTime(dst, p.ReleasedAt, ok)
	return append(dst, '}'), ok
}

func appendJSONOptional(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
}

func appendJSONStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendJSONMap writes m's keys in sorted order, as encoding/json does.
func appendJSONMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

// appendJSONTime writes t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds as needed); ok turns false for a year outside 0–9999 or a
// zone offset of a day or more, which MarshalJSON refuses.
func appendJSONTime(dst []byte, t time.Time, ok bool) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return dst, false
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return dst, false
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), ok
}

func appendJSONOptionalTime(dst []byte, t *time.Time, ok bool) ([]byte, bool) {
	if t == nil {
		return append(dst, "null"...), ok
	}
	return appendJSONTime(dst, *t, ok)
}

const hexDigits = "0123456789abcdef"

// jsonSafe holds the ASCII bytes appendJSONString copies as they are
// (encoding/json's HTML-safe set): one table load per byte of the
// strings a page writes instead of six comparisons.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		safe[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

// appendJSONString writes s quoted as encoding/json.Marshal does: HTML
// characters (<, >, &) and U+2028/U+2029 escaped as \u sequences, control
// characters as \b, \f, \n, \r, \t or \u00XX, invalid UTF-8 replaced by
// \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
