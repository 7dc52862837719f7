package httpapi

import (
	"bytes"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
)

// wantJSON is encoding/json's encoding of v, the oracle appendJSON must
// reproduce byte for byte (it is what the API wrote before appendJSON).
func wantJSON(t testing.TB, v any) ([]byte, bool) {
	t.Helper()
	b, err := json.Marshal(v)
	return b, err == nil
}

// sampleInvoices are invoices whose wire forms cover every field in both
// of its shapes (null and set, empty and full), with text that needs
// escaping: quotes, backslashes, HTML characters, control characters,
// non-ASCII letters, emoji, U+2028/U+2029 and invalid UTF-8.
func sampleInvoices() map[string]invoiceBody {
	t0 := time.Date(2026, 12, 7, 21, 4, 5, 123456000, time.UTC)
	t1 := t0.Add(15 * time.Minute)
	whole := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	zoned := time.Date(2026, 1, 2, 3, 4, 5, 7, time.FixedZone("X", -(9*3600+30*60)))
	bare := cryptopay.Invoice{ID: "inv_1", StoreID: "sto_1", OrderID: "o-1", Amount: big.NewInt(2500), Currency: "USD",
		Network: cryptopay.Network("bitcoin-regtest"), Asset: "BTC", CryptoDue: big.NewInt(38462), AmountPaid: big.NewInt(0),
		Address: "bcrt1qexample", Status: cryptopay.Status("new"), RequiredConfirmations: 1,
		CreatedAt: t0, ExpiresAt: t1, MonitorUntil: t1}
	full := bare
	full.Livemode = true
	full.AmountText = "25.0"
	full.Rate = "65000.00"
	full.RateSources = []string{"coingecko", "kraken"}
	full.RateAt = &whole
	full.RateSpreadBasisPoints = 125
	full.Flags = cryptopay.Flag(0xffff)
	full.AmountPaid = big.NewInt(40000)
	full.CustomerReference = "Zoë <zoe@example.com> & \"co\" \\ \u2028\u2029 \x00\x01\x1f\x7f\b\f\n\r\t 🎉"
	full.Metadata = map[string]string{"z": "last", "a": "first", "é": "accent", "<k>": "v&w", "bad\xff": "\xc3\x28", "": ""}
	full.RedirectURL = "https://shop.example/return?a=1&b=<2>"
	full.SettledAt = &zoned
	full.Payments = []cryptopay.Payment{
		{ID: "pay_1", TxID: "ab", Vout: 4294967295, Amount: big.NewInt(20000), Status: "confirmed", Confirmations: 6,
			BlockHash: "00ff", BlockHeight: 123, RBF: true, FromAddress: "bcrt1qfrom", ConflictTxID: "cd", SeenAt: t0,
			Asset: "USDT", Decimals: 6, ReleasedAt: &zoned, ReleasedBy: "operator"},
		{ID: "pay_2", TxID: "ef", Amount: big.NewInt(20000), Status: "seen", SeenAt: whole},
	}
	evm := bare
	evm.Network = cryptopay.Network("ethereum-anvil")
	evm.Asset = "USDC"
	evm.Metadata = map[string]string{}
	withBody := invoiceJSON(&full, "https://pay.example")
	nulls := invoiceJSON(&bare, "http://127.0.0.1:8080")
	nulls.Flags, nulls.Metadata, nulls.Payments = nil, nil, nil
	return map[string]invoiceBody{
		"no optional fields":          invoiceJSON(&bare, "http://127.0.0.1:8080"),
		"every field set and escaped": withBody,
		"evm network":                 invoiceJSON(&evm, "https://pay.example"),
		"nil slices and map":          nulls,
		"zero value":                  {},
	}
}

func TestInvoiceJSONMatchesEncodingJSON(t *testing.T) {
	for name, body := range sampleInvoices() {
		t.Run(name, func(t *testing.T) {
			want, _ := wantJSON(t, body)
			got, ok := body.appendJSON(nil)
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("appendJSON (ok=%v):\n%s\nencoding/json:\n%s", ok, got, want)
			}
		})
	}
}

func TestInvoiceListJSONMatchesEncodingJSON(t *testing.T) {
	var all []invoiceBody
	for _, b := range sampleInvoices() {
		all = append(all, b)
	}
	cases := map[string]struct {
		data []invoiceBody
		more bool
	}{
		"empty page":           {data: []invoiceBody{}},
		"nil page":             {data: nil},
		"one invoice, more":    {data: all[:1], more: true},
		"every sample invoice": {data: all},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want, _ := wantJSON(t, listBody[invoiceBody]{Object: "list", Data: c.data, HasMore: c.more})
			got, ok := appendInvoiceList(nil, c.data, c.more)
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("appendInvoiceList:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
}

// TestInvoiceJSONRefusesWhatEncodingJSONRefuses: a time encoding/json
// cannot write makes appendJSON report it, so the response falls back to
// writeJSON (and its error) instead of inventing a form.
func TestInvoiceJSONRefusesWhatEncodingJSONRefuses(t *testing.T) {
	cases := map[string]time.Time{
		"year 10000":     time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		"year -1":        time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		"offset 24h":     time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
		"offset -25h":    time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -25*3600)),
		"year 9999 (ok)": time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		"year 0 (ok)":    time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		"offset 23:59":   time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60)),
	}
	for name, tm := range cases {
		t.Run(name, func(t *testing.T) {
			b := invoiceBody{CreatedAt: tm, Payments: []paymentBody{{SeenAt: tm}}}
			want, wantOK := wantJSON(t, b)
			got, ok := b.appendJSON(nil)
			if ok != wantOK || (ok && !bytes.Equal(got, want)) {
				t.Fatalf("appendJSON ok=%v %s; encoding/json ok=%v %s", ok, got, wantOK, want)
			}
		})
	}
}

func FuzzInvoiceJSON(f *testing.F) {
	f.Add("inv_1", "Zoë <a&b> \"q\" \\", "k", "\u2028\xff\x00", int64(1765141445123456789), int32(0), uint32(7), int64(-1))
	f.Add("", "", "", "", int64(0), int32(-34200), uint32(0), int64(0))
	f.Fuzz(func(t *testing.T, id, text, key, val string, nanos int64, offset int32, vout uint32, height int64) {
		tm := time.Unix(0, nanos).In(time.FixedZone("", int(offset)))
		b := invoiceBody{ID: id, OrderID: text, Status: cryptopay.Status(text), Flags: []string{text, key},
			Rate: &text, RateSources: []string{val}, RateAt: &tm, Metadata: map[string]string{key: val, text: id},
			CustomerReference: &val, CreatedAt: tm, SettledAt: &tm, RequiredConfirmations: int(height),
			Payments: []paymentBody{{ID: key, TxID: val, Vout: vout, BlockHeight: &height, Confirmations: height,
				FromAddress: &text, Asset: &key, SeenAt: tm, ReleasedAt: &tm}}}
		want, wantOK := wantJSON(t, b)
		got, ok := b.appendJSON(nil)
		if ok != wantOK || (ok && !bytes.Equal(got, want)) {
			t.Fatalf("appendJSON ok=%v\n%s\nencoding/json ok=%v\n%s", ok, got, wantOK, want)
		}
	})
}
