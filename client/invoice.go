package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Invoice is a payment order as the API returns it. Amount and Currency
// are the price exactly as the shop sent it ("0.0015" stays "0.0015"), so
// it compares equal to the shop's own order; AmountNormalized is the same
// price with the currency's decimals ("0.00150000"); CryptoAmount,
// AmountPaid and AmountDue are in Asset with its full precision. Every
// amount is a decimal string.
type Invoice struct {
	ID                    string            `json:"id"`
	Object                string            `json:"object"`
	Livemode              bool              `json:"livemode"`
	StoreID               string            `json:"store_id"`
	OrderID               string            `json:"order_id"`
	Status                string            `json:"status"` // new, processing, settled, expired, invalid
	Flags                 []string          `json:"flags"`  // paid_partial, paid_over, paid_late, double_spent, reorged, marked, held, confirmed_late, outside_window
	Amount                string            `json:"amount"`
	AmountNormalized      string            `json:"amount_normalized"`
	Currency              string            `json:"currency"`
	Network               string            `json:"network"`
	Asset                 string            `json:"asset"`
	CryptoAmount          string            `json:"crypto_amount"`
	CryptoAmountBaseUnits string            `json:"crypto_amount_base_units"`
	AmountPaid            string            `json:"amount_paid"`
	AmountDue             string            `json:"amount_due"`
	Rate                  *string           `json:"rate"`         // nil when priced in the asset itself; locked at creation, after the store's spread
	RateSources           []string          `json:"rate_sources"` // the providers whose median Rate is, or ["static"]
	RateAt                *time.Time        `json:"rate_at"`      // the oldest provider price Rate rests on
	RateSpread            *string           `json:"rate_spread"`  // the store's spread in percent, e.g. "1.00"
	Address               string            `json:"address"`
	PaymentURI            string            `json:"payment_uri"`
	CheckoutURL           string            `json:"checkout_url"` // the hosted payment page to send the customer to
	RequiredConfirmations int               `json:"required_confirmations"`
	CustomerReference     *string           `json:"customer_reference"`
	Metadata              map[string]string `json:"metadata"`
	RedirectURL           *string           `json:"redirect_url"`
	CreatedAt             time.Time         `json:"created_at"`
	ExpiresAt             time.Time         `json:"expires_at"`
	MonitorUntil          time.Time         `json:"monitor_until"`
	SettledAt             *time.Time        `json:"settled_at"`
	Payments              []Payment         `json:"payments"`
}

// Payment is one transaction output paying an invoice.
type Payment struct {
	ID            string    `json:"id"`
	TxID          string    `json:"tx_id"`
	Vout          uint32    `json:"vout"`
	Amount        string    `json:"amount"`
	Status        string    `json:"status"` // pending, confirmed, double_spent, conflicted, replaced, reorged, held, outside_window
	Confirmations int64     `json:"confirmations"`
	BlockHash     *string   `json:"block_hash"`
	BlockHeight   *int64    `json:"block_height"`
	RBF           bool      `json:"rbf"`
	FromAddress   *string   `json:"from_address"`
	ConflictTxID  *string   `json:"conflict_tx_id"` // set when double spent, conflicted or replaced: the other transaction
	SeenAt        time.Time `json:"seen_at"`
	// ReleasedAt is set when an operator released the payment after it was
	// held (its sender is blocked); nil otherwise.
	ReleasedAt *time.Time `json:"released_at"`
}

// InvoiceParams creates an invoice. OrderID, Amount and Currency are
// required; the rest is optional and left out of the request when zero.
type InvoiceParams struct {
	OrderID  string `json:"order_id"`
	Amount   string `json:"amount"`   // decimal string, e.g. "25.00"
	Currency string `json:"currency"` // e.g. "USD", or "BTC" to price in the asset
	Network  string `json:"network,omitempty"`
	// Asset is what the customer pays on an EVM network ("ETH", "USDC",
	// "USDT"); empty means the network's first asset.
	Asset             string            `json:"asset,omitempty"`
	CustomerReference string            `json:"customer_reference,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	// ExpiresIn overrides the store's invoice lifetime; it is sent in
	// whole seconds (fractions are dropped).
	ExpiresIn   time.Duration `json:"-"`
	RedirectURL string        `json:"redirect_url,omitempty"`
}

// MarshalJSON sends ExpiresIn as whole seconds ("expires_in"), leaving
// it out when zero.
func (p InvoiceParams) MarshalJSON() ([]byte, error) {
	type plain InvoiceParams
	return json.Marshal(struct {
		plain
		ExpiresIn int64 `json:"expires_in,omitempty"`
	}{plain(p), int64(p.ExpiresIn / time.Second)})
}

// CreateInvoice creates an invoice with a fresh deposit address. A second
// invoice for the same OrderID is a *Error with Code "conflict" whose
// message names the existing invoice. Needs the invoices:write scope.
func (c *Client) CreateInvoice(ctx context.Context, p InvoiceParams, opts ...RequestOption) (*Invoice, error) {
	var inv Invoice
	if err := c.do(ctx, http.MethodPost, "/v1/invoices", nil, p, &inv, opts); err != nil {
		return nil, err
	}
	return &inv, nil
}

// GetInvoice returns an invoice with its payments. Needs invoices:read.
func (c *Client) GetInvoice(ctx context.Context, id string, opts ...RequestOption) (*Invoice, error) {
	var inv Invoice
	if err := c.do(ctx, http.MethodGet, "/v1/invoices/"+pathID(id), nil, nil, &inv, opts); err != nil {
		return nil, err
	}
	return &inv, nil
}

// MarkSettled sets an invoice's state to settled by hand, for the cases no
// rule can decide (an underpayment the shop accepts, money received another
// way). reason is required (at most 500 characters); it is recorded in the
// audit log and sent as data.reason of the invoice.settled event, whose
// data.marked is true. The invoice keeps the state: later payments move
// its amounts, never its status. Marking an invoice already settled is a
// *Error with Code "invalid_state" (HTTP 409). Needs invoices:write.
func (c *Client) MarkSettled(ctx context.Context, id, reason string, opts ...RequestOption) (*Invoice, error) {
	return c.mark(ctx, id, "mark_settled", reason, opts)
}

// MarkInvalid sets an invoice's state to invalid by hand (for example after
// refunding a settled invoice), like MarkSettled; the event is
// invoice.invalid with data.marked true. Marking an invoice already invalid
// is a *Error with Code "invalid_state". Needs invoices:write.
func (c *Client) MarkInvalid(ctx context.Context, id, reason string, opts ...RequestOption) (*Invoice, error) {
	return c.mark(ctx, id, "mark_invalid", reason, opts)
}

// ReleasePayment releases one held payment of an invoice (status held:
// its sending address is blocked) after review, with a reason recorded in
// the audit log and sent in payment.released. The payment then counts like
// any other: once confirmed at the invoice's tier it settles the invoice,
// and a reorg or double spend still takes it away. Releasing a payment
// released already returns the invoice unchanged; one that is not held is
// a *Error with Code "invalid_state". Needs invoices:write.
func (c *Client) ReleasePayment(ctx context.Context, invoiceID, paymentID, reason string, opts ...RequestOption) (*Invoice, error) {
	var inv Invoice
	body := struct {
		Reason string `json:"reason"`
	}{reason}
	if err := c.do(ctx, http.MethodPost, "/v1/invoices/"+pathID(invoiceID)+"/payments/"+pathID(paymentID)+"/release", nil, body, &inv, opts); err != nil {
		return nil, err
	}
	return &inv, nil
}

func (c *Client) mark(ctx context.Context, id, action, reason string, opts []RequestOption) (*Invoice, error) {
	var inv Invoice
	body := struct {
		Reason string `json:"reason"`
	}{reason}
	if err := c.do(ctx, http.MethodPost, "/v1/invoices/"+pathID(id)+"/"+action, nil, body, &inv, opts); err != nil {
		return nil, err
	}
	return &inv, nil
}

// ListInvoicesParams filters and pages a list of invoices. Zero fields are
// not sent.
type ListInvoicesParams struct {
	Status        string // new, processing, settled, expired or invalid
	OrderID       string
	Limit         int    // 1 to 100; the server's default is 10
	StartingAfter string // an invoice id: return the invoices older than it
}

func (p ListInvoicesParams) values() url.Values {
	v := url.Values{}
	set(v, "status", p.Status)
	set(v, "order_id", p.OrderID)
	set(v, "starting_after", p.StartingAfter)
	if p.Limit != 0 {
		v.Set("limit", strconv.Itoa(p.Limit))
	}
	return v
}

func set(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

// InvoiceList is one page of invoices, newest first.
type InvoiceList struct {
	Object  string    `json:"object"`
	Data    []Invoice `json:"data"`
	HasMore bool      `json:"has_more"`
}

// ListInvoices returns one page of invoices, newest first, each in the
// same shape as GetInvoice returns (payments included). When HasMore is
// true, pass the last invoice's id as StartingAfter for the next page (or
// use Invoices, which does that). Needs invoices:read.
func (c *Client) ListInvoices(ctx context.Context, p ListInvoicesParams, opts ...RequestOption) (*InvoiceList, error) {
	var l InvoiceList
	if err := c.do(ctx, http.MethodGet, "/v1/invoices", p.values(), nil, &l, opts); err != nil {
		return nil, err
	}
	return &l, nil
}

// Invoices iterates over every invoice matching p, newest first, fetching
// pages of p.Limit as it goes. It stops at the first error, which it yields.
func (c *Client) Invoices(ctx context.Context, p ListInvoicesParams) iter.Seq2[*Invoice, error] {
	return func(yield func(*Invoice, error) bool) {
		for {
			page, err := c.ListInvoices(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Data {
				if !yield(&page.Data[i], nil) {
					return
				}
			}
			if !page.HasMore || len(page.Data) == 0 {
				return
			}
			p.StartingAfter = page.Data[len(page.Data)-1].ID
		}
	}
}
