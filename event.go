package cryptopay

import (
	"encoding/json"
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
	EventPaymentHeld                 EventType = "payment.held" // from a blocked address; not credited
	EventPaymentConflicted           EventType = "payment.conflicted"
	EventPaymentReplaced             EventType = "payment.replaced"
	EventPaymentReinstated           EventType = "payment.reinstated"
	EventPaymentOutsideWindow        EventType = "payment.outside_window"
	EventWebhookEndpointDisabled     EventType = "webhook_endpoint.disabled"
	EventTest                        EventType = "test"
)

// EventTypes lists every event type, in documentation order.
var EventTypes = []EventType{
	EventInvoiceCreated, EventInvoicePaymentDetected, EventInvoiceProcessing,
	EventInvoiceConfirmationsChanged, EventInvoiceSettled, EventInvoicePaidPartial,
	EventInvoicePaidOver, EventInvoicePaidLate, EventInvoiceExpired, EventInvoiceInvalid,
	EventPaymentDoubleSpent, EventPaymentConflicted, EventPaymentReplaced, EventPaymentReinstated,
	EventPaymentReorged, EventPaymentHeld, EventPaymentOutsideWindow, EventWebhookEndpointDisabled, EventTest,
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
	Data      json.RawMessage
	CreatedAt time.Time
}

// InvoiceEventData is the data of invoice and payment events. Amount and
// Currency are the invoice's price exactly as the shop set it, so the
// security guide's validatePayment (strict equality against the shop's own
// order) works unchanged.
type InvoiceEventData struct {
	InvoiceID             string   `json:"invoice_id"`
	OrderID               string   `json:"order_id"`
	Amount                string   `json:"amount"`
	Currency              string   `json:"currency"`
	Status                Status   `json:"status"`
	Flags                 []string `json:"flags"`
	AmountPaid            string   `json:"amount_paid"`
	AmountDue             string   `json:"amount_due"`
	CryptoAmount          string   `json:"crypto_amount"`
	Asset                 string   `json:"asset"`
	Network               Network  `json:"network"`
	Address               string   `json:"address"`
	TxID                  string   `json:"tx_id,omitempty"`
	Vout                  *uint32  `json:"vout,omitempty"`
	PaymentAmount         string   `json:"payment_amount,omitempty"`
	FromAddress           string   `json:"from_address,omitempty"`
	Confirmations         int64    `json:"confirmations"`
	RequiredConfirmations int      `json:"required_confirmations"`
	ConflictTxID          string   `json:"conflict_tx_id,omitempty"`
	PaymentStatus         string   `json:"payment_status,omitempty"`
	Resettled             bool     `json:"resettled,omitempty"`
}

// NewInvoiceEvent builds an event about inv, optionally about one payment
// p, with the invoice exactly as it is after the change.
func NewInvoiceEvent(typ EventType, inv *Invoice, p *Payment, now time.Time) Event {
	cur, _ := LookupCurrency(inv.Currency)
	asset, _ := LookupCurrency(inv.Asset)
	d := InvoiceEventData{
		InvoiceID:             inv.ID,
		OrderID:               inv.OrderID,
		Amount:                FormatAmount(inv.Amount, cur.Decimals),
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
	if p != nil {
		vout := p.Vout
		d.TxID, d.Vout, d.FromAddress = p.TxID, &vout, p.FromAddress
		d.PaymentAmount = FormatAmount(p.Amount, asset.Decimals)
		d.Confirmations = p.Confirmations
		d.ConflictTxID = p.ConflictTxID
		d.PaymentStatus = string(p.Status)
	}
	// A second settlement after a real reversal says so: shops key
	// fulfilment on the invoice id, never on the event id.
	d.Resettled = typ == EventInvoiceSettled && inv.Flags&FlagReorged != 0
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
