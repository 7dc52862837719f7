package httpapi

import (
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

// createInvoiceRequest is the body of POST /v1/invoices. Amounts are
// decimal strings; a JSON number is refused so no client float can sneak
// into a price. expires_in is a JSON integer, never a string (the types
// are those of CreateInvoiceRequest in openapi.json).
type createInvoiceRequest struct {
	OrderID           string            `json:"order_id"`
	Amount            string            `json:"amount"`
	Currency          string            `json:"currency"`
	Network           string            `json:"network"`
	Asset             string            `json:"asset"`
	CustomerReference string            `json:"customer_reference"`
	Metadata          map[string]string `json:"metadata"`
	ExpiresIn         *int64            `json:"expires_in"`
	RedirectURL       string            `json:"redirect_url"`
}

func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey, body []byte) error {
	var req createInvoiceRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	expiresIn, err := seconds("expires_in", req.ExpiresIn)
	if err != nil {
		return err
	}
	inv, err := s.svc.CreateInvoice(r.Context(), key, gateway.InvoiceParams{
		OrderID:           req.OrderID,
		Amount:            req.Amount,
		Currency:          req.Currency,
		Network:           req.Network,
		Asset:             req.Asset,
		CustomerReference: req.CustomerReference,
		Metadata:          req.Metadata,
		ExpiresIn:         expiresIn,
		RedirectURL:       req.RedirectURL,
	})
	if err != nil {
		return err
	}
	out := s.invoiceJSON(r, inv)
	writeJSONBytes(w, http.StatusCreated, out.appendJSON, func() any { return out })
	return nil
}

// seconds converts an optional positive whole number of seconds.
func seconds(param string, n *int64) (time.Duration, error) {
	if n == nil {
		return 0, nil
	}
	if v := *n; v <= 0 || v > 1<<31 {
		return 0, cryptopay.Invalid(param, "%s must be a positive whole number of seconds.", param)
	}
	return time.Duration(*n) * time.Second, nil
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	inv, err := s.svc.GetInvoice(r.Context(), key, r.PathValue("id"))
	if err != nil {
		return err
	}
	body := s.invoiceJSON(r, inv)
	writeJSONBytes(w, http.StatusOK, body.appendJSON, func() any { return body })
	return nil
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, key *cryptopay.APIKey) error {
	if err := onlyQuery(r, "status", "order_id", "limit", "starting_after"); err != nil {
		return err
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	invs, more, err := s.svc.ListInvoices(r.Context(), key, gateway.InvoiceQuery{
		Status: q.Get("status"), OrderID: q.Get("order_id"), Limit: limit, StartingAfter: q.Get("starting_after"),
	})
	if err != nil {
		return err
	}
	out := make([]invoiceBody, len(invs))
	for i := range invs {
		out[i] = s.invoiceJSON(r, &invs[i])
	}
	writeJSONBytes(w, http.StatusOK, func(b []byte) ([]byte, bool) { return appendInvoiceList(b, out, more) },
		func() any { return listBody[invoiceBody]{Object: "list", Data: out, HasMore: more} })
	return nil
}

// onlyQuery refuses query parameters the endpoint does not know, so a
// typo is an error rather than a silently ignored filter.
func onlyQuery(r *http.Request, known ...string) error {
	for k := range r.URL.Query() {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return cryptopay.Invalid(k, "Unknown query parameter %q.", k)
		}
	}
	return nil
}

type listBody[T any] struct {
	Object  string `json:"object"`
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
}

// invoiceBody is an invoice on the wire. amount and currency are the price
// exactly as the shop sent it (amount_normalized has the currency's
// decimals); crypto amounts are decimal strings with the asset's full
// precision, plus the exact base units.
type invoiceBody struct {
	ID                    string            `json:"id"`
	Object                string            `json:"object"`
	Livemode              bool              `json:"livemode"`
	StoreID               string            `json:"store_id"`
	OrderID               string            `json:"order_id"`
	Status                cryptopay.Status  `json:"status"`
	Flags                 []string          `json:"flags"`
	Amount                string            `json:"amount"`
	AmountNormalized      string            `json:"amount_normalized"`
	Currency              string            `json:"currency"`
	Network               cryptopay.Network `json:"network"`
	Asset                 string            `json:"asset"`
	CryptoAmount          string            `json:"crypto_amount"`
	CryptoAmountBaseUnits string            `json:"crypto_amount_base_units"`
	AmountPaid            string            `json:"amount_paid"`
	AmountDue             string            `json:"amount_due"`
	Rate                  *string           `json:"rate"`
	RateSources           []string          `json:"rate_sources"`
	RateAt                *time.Time        `json:"rate_at"`
	RateSpread            *string           `json:"rate_spread"`
	Address               string            `json:"address"`
	PaymentURI            string            `json:"payment_uri"`
	CheckoutURL           string            `json:"checkout_url"`
	RequiredConfirmations int               `json:"required_confirmations"`
	CustomerReference     *string           `json:"customer_reference"`
	Metadata              map[string]string `json:"metadata"`
	RedirectURL           *string           `json:"redirect_url"`
	CreatedAt             time.Time         `json:"created_at"`
	ExpiresAt             time.Time         `json:"expires_at"`
	MonitorUntil          time.Time         `json:"monitor_until"`
	SettledAt             *time.Time        `json:"settled_at"`
	Payments              []paymentBody     `json:"payments"`
}

type paymentBody struct {
	ID            string                  `json:"id"`
	TxID          string                  `json:"tx_id"`
	Vout          uint32                  `json:"vout"`
	Amount        string                  `json:"amount"` // in Asset's decimals
	Asset         *string                 `json:"asset"`
	Status        cryptopay.PaymentStatus `json:"status"`
	Confirmations int64                   `json:"confirmations"`
	BlockHash     *string                 `json:"block_hash"`
	BlockHeight   *int64                  `json:"block_height"`
	RBF           bool                    `json:"rbf"`
	FromAddress   *string                 `json:"from_address"`
	ConflictTxID  *string                 `json:"conflict_tx_id"`
	SeenAt        time.Time               `json:"seen_at"`
	ReleasedAt    *time.Time              `json:"released_at"` // null unless an operator released it after it was held
}

// InvoiceResource returns the wire representation of inv, for other
// presenters (the command line) that must show exactly what the API shows;
// publicURL is the base of its checkout_url, and svc (the gateway's
// service, with its EVM chains) writes an EVM invoice's EIP-681 payment_uri.
func InvoiceResource(svc *gateway.Service, inv *cryptopay.Invoice, publicURL string) any {
	b := invoiceJSON(inv, strings.TrimRight(publicURL, "/"))
	if inv.Network.EVM() && svc != nil {
		b.PaymentURI = svc.PaymentURI(inv) // EIP-681 needs the chain's configuration
	}
	return b
}

// invoiceJSON renders inv for a response to r: checkout links use the
// configured public URL, else the host and scheme the client reached.
func (s *Server) invoiceJSON(r *http.Request, inv *cryptopay.Invoice) invoiceBody {
	base := s.public
	if base == "" {
		scheme := "http"
		if isHTTPS(r) {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	b := invoiceJSON(inv, base)
	if inv.Network.EVM() {
		b.PaymentURI = s.svc.PaymentURI(inv) // EIP-681 needs the chain's configuration
	}
	return b
}

func invoiceJSON(inv *cryptopay.Invoice, base string) invoiceBody {
	asset, _ := cryptopay.LookupCurrency(inv.Asset)
	// The amount due is written twice (amount_due and in the payment
	// URI): computed and formatted once.
	due := inv.AmountDue()
	dueText := cryptopay.FormatAmount(due, asset.Decimals)
	md := inv.Metadata
	if md == nil {
		md = map[string]string{}
	}
	b := invoiceBody{
		ID:                    inv.ID,
		Object:                "invoice",
		Livemode:              inv.Livemode,
		StoreID:               inv.StoreID,
		OrderID:               inv.OrderID,
		Status:                inv.Status,
		Flags:                 inv.Flags.Names(),
		Amount:                inv.AmountString(),
		AmountNormalized:      inv.AmountNormalized(),
		Currency:              inv.Currency,
		Network:               inv.Network,
		Asset:                 inv.Asset,
		CryptoAmount:          cryptopay.FormatAmount(inv.CryptoDue, asset.Decimals),
		CryptoAmountBaseUnits: inv.CryptoDue.String(),
		AmountPaid:            cryptopay.FormatAmount(inv.AmountPaid, asset.Decimals),
		AmountDue:             dueText,
		Rate:                  optional(inv.Rate),
		RateSources:           inv.RateSources,
		RateAt:                inv.RateAt,
		Address:               inv.Address,
		PaymentURI:            paymentURI(inv, due, dueText),
		CheckoutURL:           base + "/pay/" + inv.ID,
		RequiredConfirmations: inv.RequiredConfirmations,
		CustomerReference:     optional(inv.CustomerReference),
		Metadata:              md,
		RedirectURL:           optional(inv.RedirectURL),
		CreatedAt:             inv.CreatedAt,
		ExpiresAt:             inv.ExpiresAt,
		MonitorUntil:          inv.MonitorUntil,
		SettledAt:             inv.SettledAt,
		Payments:              []paymentBody{},
	}
	if inv.Rate != "" {
		spread := cryptopay.FormatAmount(big.NewInt(int64(inv.RateSpreadBasisPoints)), 2)
		b.RateSpread = &spread
	}
	for _, p := range inv.Payments {
		// Each payment in its own asset: a wrong_asset payment of USDT to
		// an ETH invoice reads in USDT's 6 decimals, not ether's 18.
		pa, _ := p.Unit(inv)
		pb := paymentBody{
			ID: p.ID, TxID: p.TxID, Vout: p.Vout, Amount: p.AmountIn(inv), Asset: optional(pa),
			Status: p.Status, Confirmations: p.Confirmations, RBF: p.RBF,
			BlockHash: optional(p.BlockHash), FromAddress: optional(p.FromAddress), SeenAt: p.SeenAt,
			ConflictTxID: optional(p.ConflictTxID), ReleasedAt: p.ReleasedAt,
		}
		if p.BlockHash != "" {
			h := p.BlockHeight
			pb.BlockHeight = &h
		}
		b.Payments = append(b.Payments, pb)
	}
	return b
}

// paymentURI is the BIP21 URI for the amount still due (due, and
// dueText formatted in the invoice asset's decimals); "" on an EVM
// network, whose EIP-681 URI the service writes (Service.PaymentURI).
func paymentURI(inv *cryptopay.Invoice, due *big.Int, dueText string) string {
	if inv.Network.EVM() {
		return ""
	}
	if due.Sign() <= 0 {
		return inv.Network.URIScheme() + ":" + inv.Address
	}
	return inv.Network.URIScheme() + ":" + inv.Address + "?amount=" + url.QueryEscape(trimZeros(dueText))
}

// trimZeros drops trailing fractional zeros: BIP21 amounts are plain
// decimals and wallets show "0.0015" more kindly than "0.00150000".
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
