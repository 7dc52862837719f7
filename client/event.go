package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Event is something that happened to one of the store's objects. Webhook
// deliveries carry the same shape.
type Event struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"`
	Type       string    `json:"type"` // e.g. invoice.created, invoice.settled
	Livemode   bool      `json:"livemode"`
	APIVersion string    `json:"api_version"`
	CreatedAt  time.Time `json:"created_at"`
	// Sequence numbers an invoice's events 1, 2, 3... in the order they
	// happened, so a receiver can order deliveries that arrive out of
	// order; 0 (absent) for events not about an invoice.
	Sequence int64           `json:"sequence,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// InvoiceEventData is the data of invoice.* and payment.* events. Amount
// and Currency are the invoice's price exactly as the shop sent it, so a
// shop can compare them with its own order by string equality;
// AmountNormalized is that price with the currency's decimals.
type InvoiceEventData struct {
	InvoiceID        string   `json:"invoice_id"`
	OrderID          string   `json:"order_id"`
	Amount           string   `json:"amount"`
	AmountNormalized string   `json:"amount_normalized"`
	Currency         string   `json:"currency"`
	Status           string   `json:"status"`
	Flags            []string `json:"flags"`
	AmountPaid       string   `json:"amount_paid"`
	AmountDue        string   `json:"amount_due"`
	CryptoAmount     string   `json:"crypto_amount"`
	Asset            string   `json:"asset"`
	Network          string   `json:"network"`
	// Rate is the price of one Asset in Currency the invoice was priced
	// at, locked when it was created (after the store's spread, RateSpread
	// percent), from RateSources at RateAt; nil when priced in the asset.
	Rate                  *string    `json:"rate"`
	RateSources           []string   `json:"rate_sources"`
	RateAt                *time.Time `json:"rate_at"`
	RateSpread            *string    `json:"rate_spread"`
	Address               string     `json:"address"`
	TxID                  string     `json:"tx_id,omitempty"`
	Vout                  *uint32    `json:"vout,omitempty"`
	PaymentAmount         string     `json:"payment_amount,omitempty"`
	FromAddress           string     `json:"from_address,omitempty"`
	Confirmations         int64      `json:"confirmations"`
	RequiredConfirmations int        `json:"required_confirmations"`
	ConflictTxID          string     `json:"conflict_tx_id,omitempty"`
	PaymentStatus         string     `json:"payment_status,omitempty"`
	// Resettled is set on an invoice.settled that follows a real reversal
	// of an earlier settlement: key fulfilment on the invoice id.
	Resettled bool `json:"resettled,omitempty"`
	// Marked is true on invoice.settled and invoice.invalid when the state
	// was set by hand (MarkSettled, MarkInvalid), and Reason says why.
	Marked bool   `json:"marked,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// InvoiceData decodes the data of an invoice or payment event. It returns
// an error if the data is not an object of that shape.
func (e *Event) InvoiceData() (*InvoiceEventData, error) {
	var d InvoiceEventData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ListEventsParams filters and pages a list of events. Zero fields are not
// sent.
type ListEventsParams struct {
	Invoice       string // an invoice id
	Type          string // an event type
	Limit         int    // 1 to 100; the server's default is 10
	StartingAfter string // an event id: return the events older than it
}

// EventList is one page of events, newest first.
type EventList struct {
	Object  string  `json:"object"`
	Data    []Event `json:"data"`
	HasMore bool    `json:"has_more"`
}

// ListEvents returns one page of events, newest first. Needs events:read.
func (c *Client) ListEvents(ctx context.Context, p ListEventsParams, opts ...RequestOption) (*EventList, error) {
	v := url.Values{}
	set(v, "invoice", p.Invoice)
	set(v, "type", p.Type)
	set(v, "starting_after", p.StartingAfter)
	if p.Limit != 0 {
		v.Set("limit", strconv.Itoa(p.Limit))
	}
	var l EventList
	if err := c.do(ctx, http.MethodGet, "/v1/events", v, nil, &l, opts); err != nil {
		return nil, err
	}
	return &l, nil
}
