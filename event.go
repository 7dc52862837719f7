package cryptopay

import (
	"encoding/json"
	"math/big"
	"time"
)

// EventType names what happened. The set is closed and documented; webhook
// endpoints subscribe to types.
type EventType string

// Event types.
const (
	EventInvoiceCreated              EventType = "invoice.created"
	EventInvoicePaymentDetected      EventType = "invoice.payment_detected"
	EventInvoiceProcessing           EventType = "invoice.processing"
	EventInvoiceConfirmationsChanged EventType = "invoice.confirmations_changed"
	EventInvoiceSettled              EventType = "invoice.settled"
	EventInvoicePaidPartial          EventType = "invoice.paid_partial"
	EventInvoicePaidOver             EventType = "invoice.paid_over"
	EventInvoicePaidLate             EventType = "invoice.paid_late"
	EventInvoiceExpired              EventType = "invoice.expired"
	EventInvoiceInvalid              EventType = "invoice.invalid"
	EventPaymentDoubleSpent          EventType = "payment.double_spent"
	EventPaymentReorged              EventType = "payment.reorged"
	EventPaymentHeld                 EventType = "payment.held"     // from a blocked address; not credited
	EventPaymentReleased             EventType = "payment.released" // a held payment an operator released; tracked like any other from then on
	EventPaymentConflicted           EventType = "payment.conflicted"
	EventPaymentReplaced             EventType = "payment.replaced"
	EventPaymentReinstated           EventType = "payment.reinstated"
	EventPaymentOutsideWindow        EventType = "payment.outside_window"
	EventPaymentWrongAsset           EventType = "payment.wrong_asset"       // another asset than the invoice's; not credited
	EventPaymentInternalTransfer     EventType = "payment.internal_transfer" // found by the sweep's balance check; not credited
	EventWebhookEndpointDisabled     EventType = "webhook_endpoint.disabled"
	EventTest                        EventType = "test"
)

// EventTypes lists every event type, in documentation order.
var EventTypes = []EventType{
	EventInvoiceCreated, EventInvoicePaymentDetected, EventInvoiceProcessing,
	EventInvoiceConfirmationsChanged, EventInvoiceSettled, EventInvoicePaidPartial,
	EventInvoicePaidOver, EventInvoicePaidLate, EventInvoiceExpired, EventInvoiceInvalid,
	EventPaymentDoubleSpent, EventPaymentConflicted, EventPaymentReplaced, EventPaymentReinstated,
	EventPaymentReorged, EventPaymentHeld, EventPaymentReleased, EventPaymentOutsideWindow, EventPaymentWrongAsset,
	EventPaymentInternalTransfer, EventWebhookEndpointDisabled, EventTest,
}

// APIVersion is the version of the event and API shapes.
const APIVersion = "2026-11-01"

// Event is something that happened to a store's objects. It is written in
// the same transaction as the change it describes and never changes after.
type Event struct {
	ID        string
	StoreID   string
	Livemode  bool
	Type      EventType
	InvoiceID string // "" for events not about an invoice
	// Sequence numbers an invoice's events 1, 2, 3... in the order they
	// were written, without gaps, so a receiver can order deliveries that
	// arrive out of order. The store assigns it when it writes the event
	// (storage's CreateEvent); 0 for events not about an invoice.
	Sequence  int64
	Data      json.RawMessage
	CreatedAt time.Time
}

// InvoiceEventData is the data of invoice and payment events. Amount and
// Currency are the invoice's price exactly as the shop sent them ("0.0015"
// stays "0.0015"), so the security guide's validatePayment (strict equality
// against the shop's own order) works unchanged; AmountNormalized is the
// same price with the currency's decimals ("0.00150000").
type InvoiceEventData struct {
	InvoiceID        string   `json:"invoice_id"`
	OrderID          string   `json:"order_id"`
	Amount           string   `json:"amount"`
	AmountNormalized string   `json:"amount_normalized"`
	Currency         string   `json:"currency"`
	Status           Status   `json:"status"`
	Flags            []string `json:"flags"`
	AmountPaid       string   `json:"amount_paid"`
	AmountDue        string   `json:"amount_due"`
	CryptoAmount     string   `json:"crypto_amount"`
	Asset            string   `json:"asset"`
	Network          Network  `json:"network"`
	// Rate is the locked price of one Asset in Currency, after the
	// store's spread (RateSpread, percent); RateSources and RateAt say
	// where and when it came from. All null when priced in Asset.
	Rate                  *string    `json:"rate"`
	RateSources           []string   `json:"rate_sources"`
	RateAt                *time.Time `json:"rate_at"`
	RateSpread            *string    `json:"rate_spread"`
	Address               string     `json:"address"`
	TxID                  string     `json:"tx_id,omitempty"`
	Vout                  *uint32    `json:"vout,omitempty"`
	PaymentAmount         string     `json:"payment_amount,omitempty"`
	PaymentAsset          string     `json:"payment_asset,omitempty"` // set when the payment is in another asset than the invoice's (wrong_asset); payment_amount is in its decimals
	FromAddress           string     `json:"from_address,omitempty"`
	Confirmations         int64      `json:"confirmations"`
	RequiredConfirmations int        `json:"required_confirmations"`
	ConflictTxID          string     `json:"conflict_tx_id,omitempty"`
	PaymentStatus         string     `json:"payment_status,omitempty"`
	Resettled             bool       `json:"resettled,omitempty"`
	// Marked and Reason are set on invoice.settled and invoice.invalid
	// when the state was set by hand (POST /v1/invoices/{id}/mark_settled
	// or mark_invalid), with the reason given; absent otherwise. Reason
	// alone is set on payment.released, with the operator's reason.
	Marked bool   `json:"marked,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// NewInvoiceEvent builds an event about inv, optionally about one payment
// p, with the invoice exactly as it is after the change.
func NewInvoiceEvent(typ EventType, inv *Invoice, p *Payment, now time.Time) Event {
	d := invoiceEventData(inv, p)
	// A second settlement after a real reversal says so: shops key
	// fulfilment on the invoice id, never on the event id.
	d.Resettled = typ == EventInvoiceSettled && inv.Flags&FlagReorged != 0
	return newInvoiceEvent(typ, inv, d, now)
}

// invoiceEventData is the data of an event about inv and, if not nil, p.
func invoiceEventData(inv *Invoice, p *Payment) InvoiceEventData {
	asset, _ := LookupCurrency(inv.Asset)
	d := InvoiceEventData{
		InvoiceID:             inv.ID,
		OrderID:               inv.OrderID,
		Amount:                inv.AmountString(),
		AmountNormalized:      inv.AmountNormalized(),
		Currency:              inv.Currency,
		Status:                inv.Status,
		Flags:                 inv.Flags.Names(),
		AmountPaid:            FormatAmount(inv.AmountPaid, asset.Decimals),
		AmountDue:             FormatAmount(inv.AmountDue(), asset.Decimals),
		CryptoAmount:          FormatAmount(inv.CryptoDue, asset.Decimals),
		Asset:                 inv.Asset,
		Network:               inv.Network,
		Address:               inv.Address,
		RequiredConfirmations: inv.RequiredConfirmations,
	}
	if inv.Rate != "" {
		rate, spread := inv.Rate, FormatAmount(big.NewInt(int64(inv.RateSpreadBasisPoints)), 2)
		d.Rate, d.RateSources, d.RateAt, d.RateSpread = &rate, inv.RateSources, inv.RateAt, &spread
	}
	if p != nil {
		vout := p.Vout
		d.TxID, d.Vout, d.FromAddress = p.TxID, &vout, p.FromAddress
		// A wrong-asset payment is shown in its own asset's units, and
		// named.
		if !p.SameAsset(inv) {
			d.PaymentAsset, _ = p.Unit(inv)
		}
		d.PaymentAmount = p.AmountIn(inv)
		d.Confirmations = p.Confirmations
		d.ConflictTxID = p.ConflictTxID
		d.PaymentStatus = string(p.Status)
	}
	return d
}

func newInvoiceEvent(typ EventType, inv *Invoice, d InvoiceEventData, now time.Time) Event {
	data, err := json.Marshal(d)
	if err != nil {
		panic("cryptopay: marshal event data: " + err.Error()) // plain struct of strings and ints
	}
	return Event{
		ID:        NewID(PrefixEvent, now),
		StoreID:   inv.StoreID,
		Livemode:  inv.Livemode,
		Type:      typ,
		InvoiceID: inv.ID,
		Data:      data,
		CreatedAt: now,
	}
}
