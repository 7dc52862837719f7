package webhook

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the example bodies in docs/events.md from the code")

const eventsDoc = "../../docs/events.md"

// exampleEvent builds an event of type t the way the gateway does, so the
// documented bodies are the shapes sent: invoice and payment events with
// cryptopay.NewInvoiceEvent, the others as the webhook service writes them.
func exampleEvent(t cryptopay.EventType) cryptopay.Event {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rateAt := now.Add(-19 * time.Second) // the oldest of the providers' prices in the median
	inv := &cryptopay.Invoice{ID: "inv_01jc5k8x9v2w3y4z5a6b7c8d9e", StoreID: "sto_01jc5k8x9v2w3y4z5a6b7c8d9e", OrderID: "order-1042",
		Amount: big.NewInt(10000), AmountText: "100", Currency: "USD", Network: cryptopay.NetworkBitcoin, Asset: "BTC", CryptoDue: big.NewInt(153846),
		Address: "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", Status: cryptopay.StatusNew, AmountPaid: big.NewInt(0),
		RequiredConfirmations: 3, CreatedAt: now,
		Rate: "65000.00000000", RateSources: []string{"bitstamp", "coinbase", "kraken"}, RateAt: &rateAt}
	pay := &cryptopay.Payment{TxID: "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16", Vout: 0,
		Amount: big.NewInt(153846), FromAddress: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Status: cryptopay.PaymentPending}
	switch t {
	case cryptopay.EventInvoiceCreated:
		return cryptopay.NewInvoiceEvent(t, inv, nil, now)
	case cryptopay.EventInvoicePaymentDetected:
		inv.AmountPaid = big.NewInt(153846)
		inv.Status = cryptopay.StatusProcessing
	case cryptopay.EventInvoiceProcessing:
		// Usually at 0 confirmations: the payment was just seen.
		inv.AmountPaid, inv.Status, pay.Confirmations = big.NewInt(153846), cryptopay.StatusProcessing, 0
	case cryptopay.EventInvoiceConfirmationsChanged:
		inv.AmountPaid, inv.Status, pay.Confirmations = big.NewInt(153846), cryptopay.StatusProcessing, 2
	case cryptopay.EventInvoiceSettled:
		inv.AmountPaid, inv.Status, pay.Confirmations = big.NewInt(153846), cryptopay.StatusSettled, 3
		pay.Status = cryptopay.PaymentConfirmed
	case cryptopay.EventInvoicePaidPartial:
		pay.Amount = big.NewInt(100000)
		inv.AmountPaid, inv.Flags = big.NewInt(100000), cryptopay.FlagPaidPartial
	case cryptopay.EventInvoicePaidOver:
		pay.Amount = big.NewInt(160000)
		inv.AmountPaid, inv.Status, inv.Flags = big.NewInt(160000), cryptopay.StatusProcessing, cryptopay.FlagPaidOver
	case cryptopay.EventInvoicePaidLate:
		inv.AmountPaid, inv.Status, inv.Flags = big.NewInt(153846), cryptopay.StatusExpired, cryptopay.FlagPaidLate
	case cryptopay.EventInvoiceExpired:
		inv.Status = cryptopay.StatusExpired
		return cryptopay.NewInvoiceEvent(t, inv, nil, now)
	case cryptopay.EventInvoiceInvalid:
		inv.AmountPaid, inv.Status = big.NewInt(153846), cryptopay.StatusInvalid
		return cryptopay.NewInvoiceEvent(t, inv, nil, now)
	case cryptopay.EventPaymentDoubleSpent:
		inv.Flags = cryptopay.FlagDoubleSpent
		pay.Status, pay.ConflictTxID = cryptopay.PaymentDoubleSpent, "9f2c41d7e0b85a6c3f1e2d4b7a908c6e5d3f2a1b0c9e8d7f6a5b4c3d2e1f0a9b"
	case cryptopay.EventPaymentConflicted:
		pay.Status, pay.ConflictTxID = cryptopay.PaymentConflicted, "9f2c41d7e0b85a6c3f1e2d4b7a908c6e5d3f2a1b0c9e8d7f6a5b4c3d2e1f0a9b"
	case cryptopay.EventPaymentReplaced:
		pay.Status, pay.ConflictTxID = cryptopay.PaymentReplaced, "9f2c41d7e0b85a6c3f1e2d4b7a908c6e5d3f2a1b0c9e8d7f6a5b4c3d2e1f0a9b"
		inv.AmountPaid, inv.Status = big.NewInt(153846), cryptopay.StatusProcessing
	case cryptopay.EventPaymentReinstated:
		pay.Status, pay.Confirmations = cryptopay.PaymentPending, 1
		inv.AmountPaid, inv.Status, inv.Flags = big.NewInt(153846), cryptopay.StatusProcessing, cryptopay.FlagDoubleSpent
	case cryptopay.EventPaymentOutsideWindow:
		pay.Status = cryptopay.PaymentOutsideWindow
		inv.Status, inv.Flags = cryptopay.StatusExpired, cryptopay.FlagOutsideWindow
	case cryptopay.EventPaymentWrongAsset:
		// Ether sent to a USDC invoice's address on Ethereum.
		inv.Network, inv.Asset, inv.CryptoDue, inv.Rate = cryptopay.NetworkEthereum, "USDC", big.NewInt(100_000_000), "1.000000"
		inv.Address, inv.Flags = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", cryptopay.FlagWrongAsset
		inv.RequiredConfirmations = 12
		pay.TxID, pay.Vout, pay.Asset = "0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b", 0, "ETH"
		pay.Amount, _ = new(big.Int).SetString("30000000000000000", 10)
		pay.FromAddress, pay.Status, pay.Confirmations = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", cryptopay.PaymentWrongAsset, 1
	case cryptopay.EventPaymentInternalTransfer:
		// Ether a contract forwarded to an ether invoice's address, found
		// by the sweep's balance check (gateway.Service.RecordBalance).
		inv.Network, inv.Asset, inv.Rate = cryptopay.NetworkEthereum, "ETH", "3250.00000000"
		inv.CryptoDue, _ = new(big.Int).SetString("30769230769230769", 10)
		inv.Address, inv.RequiredConfirmations = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 3
		pay.TxID, pay.Vout, pay.Asset, pay.Decimals = "0x5f9d1c1b6a0a8e3f0c2b7d4e9a1f6c3b8d2e7a4f1c6b9d3e8a2f7c4b1e6d9a3f", 0, "ETH", 18
		pay.Amount, _ = new(big.Int).SetString("30769230769230769", 10)
		pay.FromAddress, pay.Status = "", cryptopay.PaymentInternalTransfer
	case cryptopay.EventPaymentReorged:
		inv.AmountPaid, inv.Status, inv.Flags = big.NewInt(153846), cryptopay.StatusProcessing, cryptopay.FlagReorged
		pay.Status = cryptopay.PaymentReorged
	case cryptopay.EventPaymentHeld:
		inv.Flags = cryptopay.FlagHeld
		pay.Status = cryptopay.PaymentHeld
	case cryptopay.EventPaymentReleased:
		// Released after review while one block deep: counted, not yet
		// confirmed at the invoice's tier.
		inv.AmountPaid, inv.Status, pay.Confirmations = big.NewInt(153846), cryptopay.StatusProcessing, 1
		return cryptopay.NewReleaseEvent(inv, pay, "Sender verified by phone, ticket 4711", now)
	case cryptopay.EventWebhookEndpointDisabled:
		// As maybeDisable writes it.
		data, _ := json.Marshal(map[string]any{"webhook_endpoint_id": "we_01jc5k8x9v2w3y4z5a6b7c8d9e",
			"url": "https://shop.example/hooks/cryptopay", "reason": "every delivery attempt failed for 72h0m0s"})
		return cryptopay.Event{ID: "evt_01jc5k8x9v2w3y4z5a6b7c8d9e", Type: t, Data: data, CreatedAt: now}
	case cryptopay.EventTest:
		// As SendTest writes it.
		return cryptopay.Event{ID: "evt_01jc5k8x9v2w3y4z5a6b7c8d9e", Type: t, CreatedAt: now,
			Data: []byte(`{"webhook_endpoint_id":"we_01jc5k8x9v2w3y4z5a6b7c8d9e","message":"This is a test event from CryptoPay."}`)}
	default:
		panic("no example for " + string(t))
	}
	return cryptopay.NewInvoiceEvent(t, inv, pay, now)
}

// exampleSequence is a plausible place of each invoice event in its
// invoice's history, for the documented bodies.
var exampleSequence = map[cryptopay.EventType]int64{
	cryptopay.EventInvoiceCreated: 1, cryptopay.EventInvoicePaymentDetected: 2, cryptopay.EventInvoiceProcessing: 3,
	cryptopay.EventInvoiceConfirmationsChanged: 4, cryptopay.EventInvoiceSettled: 5, cryptopay.EventInvoicePaidPartial: 3,
	cryptopay.EventInvoicePaidOver: 3, cryptopay.EventInvoicePaidLate: 4, cryptopay.EventInvoiceExpired: 2,
	cryptopay.EventInvoiceInvalid: 5, cryptopay.EventPaymentDoubleSpent: 3, cryptopay.EventPaymentReorged: 6,
	cryptopay.EventPaymentHeld: 2, cryptopay.EventPaymentReleased: 3,
}

// exampleBody is the delivery body of exampleEvent(t), indented.
func exampleBody(t *testing.T, typ cryptopay.EventType) []byte {
	ev := exampleEvent(typ)
	ev.ID = "evt_01jc5k8x9v2w3y4z5a6b7c8d9e"
	if ev.InvoiceID != "" {
		ev.Sequence = exampleSequence[typ] // as the store numbers it: the invoice's nth event
	}
	ev.Livemode = true // the examples are of a live store on bitcoin mainnet
	raw, err := EventPayload(&ev)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// docSection finds "### `type`" headings and the first ```json block
// after each.
var docSection = regexp.MustCompile("(?s)### `([a-z_.]+)`\n(.*?)```json\n(.*?)\n```")

// ignored are the fields whose values differ per delivery: ids and times.
var ignored = []string{"id", "created_at", "invoice_id", "webhook_endpoint_id"}

func normalize(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in:\n%s", err, b)
	}
	var walk func(any)
	walk = func(v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				if slices.Contains(ignored, k) {
					m[k] = "<ignored>"
				} else {
					walk(x)
				}
			}
		}
	}
	walk(v)
	return v
}

// TestEventsDocMatchesCode: docs/events.md documents every event type, and
// each example body is exactly what the gateway sends for that type (ids
// and times aside). Run with -update-docs to rewrite the examples.
func TestEventsDocMatchesCode(t *testing.T) {
	doc, err := os.ReadFile(eventsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if *updateDocs {
		doc = docSection.ReplaceAllFunc(doc, func(m []byte) []byte {
			sm := docSection.FindSubmatch(m)
			body := exampleBody(t, cryptopay.EventType(sm[1]))
			return []byte("### `" + string(sm[1]) + "`\n" + string(sm[2]) + "```json\n" + string(body) + "\n```")
		})
		if err := os.WriteFile(eventsDoc, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var documented []cryptopay.EventType
	for _, m := range docSection.FindAllSubmatch(doc, -1) {
		typ := cryptopay.EventType(m[1])
		if !slices.Contains(cryptopay.EventTypes, typ) {
			t.Errorf("docs/events.md documents %q, which is not an event type", typ)
			continue
		}
		documented = append(documented, typ)
		if len(bytes.TrimSpace(m[2])) == 0 {
			t.Errorf("%s: no prose saying when it fires", typ)
		}
		if got, want := normalize(t, m[3]), normalize(t, exampleBody(t, typ)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the documented body differs from what the gateway sends; want:\n%s", typ, exampleBody(t, typ))
		}
	}
	if !slices.Equal(documented, cryptopay.EventTypes) {
		t.Errorf("docs/events.md documents %v; want every type in cryptopay.EventTypes, in that order: %v", documented, cryptopay.EventTypes)
	}
}
