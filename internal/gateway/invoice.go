package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Limits on what a shop may attach to an invoice.
const (
	maxOrderIDLen     = 128
	maxReferenceLen   = 128
	maxMetadataKeys   = 20
	maxMetadataKeyLen = 40
	maxMetadataValLen = 500
	maxRedirectURLLen = 2048
	maxListLimit      = 100
	defaultListLimit  = 10
)

// InvoiceParams is a request to create an invoice. Optional fields are
// zero when absent.
type InvoiceParams struct {
	OrderID           string
	Amount            string
	Currency          string
	Network           string // "" picks the store's wallet for the key's mode
	Asset             string // "" picks the network's first asset (BTC, ETH, or USDC where ETH is not native)
	CustomerReference string
	Metadata          map[string]string
	ExpiresIn         time.Duration // 0: the store's default
	RedirectURL       string
}

// CreateInvoice validates p, prices it, derives a fresh deposit address and
// writes the invoice with its invoice.created event in one transaction. A
// second invoice for the same order id is a CodeConflict error naming the
// existing invoice.
func (s *Service) CreateInvoice(ctx context.Context, caller *cryptopay.APIKey, p InvoiceParams) (*cryptopay.Invoice, error) {
	st, err := s.cachedStore(ctx, caller.StoreID)
	if err != nil {
		return nil, err
	}
	inv, err := s.newInvoice(ctx, caller, st, p)
	if err != nil {
		return nil, err
	}
	wallet, _ := st.Wallet(inv.Network)
	if inv.Network.EVM() {
		// A counterfactual forwarder per invoice: computed, never
		// deployed while the customer pays.
		c, err := s.evmChain(inv.Network)
		if err != nil {
			return nil, err
		}
		if inv.Address, err = c.DepositAddress(wallet.AccountKey, inv.ID); err != nil {
			return nil, fmt.Errorf("store %s deposit address on %s: %w", st.ID, inv.Network, err)
		}
		return s.insertInvoice(ctx, st, inv)
	}
	// The address is taken before the transaction, so the writer is held
	// only for the inserts; it was derived off the request path from the
	// key its index was reserved under (address.go): the cached store may
	// hold a replaced key.
	slot, err := s.nextAddress(ctx, st.ID, inv.Network, wallet.KeyGeneration)
	if err != nil {
		return nil, fmt.Errorf("allocate address: %w", err)
	}
	inv.Address, inv.AddressIndex = slot.address, slot.index
	return s.insertInvoice(ctx, st, inv)
}

// insertInvoice writes inv with its invoice.created event, after the
// compliance checks (limits.go, subjects.go, incident.go): the value the
// limits count and the subject's envelopes are made before the
// transaction, the checks run inside it.
func (s *Service) insertInvoice(ctx context.Context, st *cryptopay.Store, inv *cryptopay.Invoice) (*cryptopay.Invoice, error) {
	var err error
	lc := limitCheck{}
	if lc.value, err = s.prepareLimits(ctx, inv, st); err != nil {
		return nil, err
	}
	plainRef, plainMeta := inv.CustomerReference, inv.Metadata
	if lc.subject, err = s.sealSubject(ctx, inv); err != nil {
		return nil, err
	}
	if done, err := s.insertNewInvoice(ctx, inv, lc); done || err != nil {
		inv.CustomerReference, inv.Metadata = plainRef, plainMeta
		if err != nil {
			return nil, fmt.Errorf("create invoice: %w", err)
		}
		s.invoiceCreated(inv)
		return inv, nil
	}
	var warnings []limitWarning
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		if err := ClaimIdempotencyKey(ctx, tx, false); err != nil {
			return err
		}
		if err := refuseIfFrozen(ctx, tx, inv.Livemode); err != nil {
			return err
		}
		usage, ws, err := s.checkLimits(ctx, tx, inv, lc)
		if err != nil {
			return err
		}
		warnings = ws
		if err := tx.CreateInvoice(ctx, inv); err != nil {
			return err
		}
		if usage != nil {
			if err := tx.AddLimitUsage(ctx, usage); err != nil {
				return err
			}
		}
		if lc.subject != "" {
			if err := tx.LinkSubjectInvoice(ctx, lc.subject, inv.ID); err != nil {
				return err
			}
		}
		ev := cryptopay.NewInvoiceEvent(cryptopay.EventInvoiceCreated, inv, nil, inv.CreatedAt)
		return s.outbox.Append(ctx, tx, &ev)
	})
	inv.CustomerReference, inv.Metadata = plainRef, plainMeta
	if ce, ok := errors.AsType[*storage.ConflictError](err); ok && ce.Constraint == "invoices_store_order_key" {
		msg := fmt.Sprintf("An invoice for order_id %q already exists.", inv.OrderID)
		if prev, err := s.db.GetInvoiceByOrderID(ctx, st.ID, inv.OrderID); err == nil {
			msg = fmt.Sprintf("An invoice for order_id %q already exists: %s.", inv.OrderID, prev.ID)
		}
		return nil, &cryptopay.Error{Code: cryptopay.CodeConflict, Param: "order_id", Message: msg}
	}
	if err != nil {
		return nil, fmt.Errorf("create invoice: %w", err)
	}
	s.warnLimits(ctx, inv, warnings)
	s.invoiceCreated(inv)
	return inv, nil
}

// newInvoiceOutbox is an Outbox that also makes a new invoice's rows for
// storage.InvoiceCreator (webhook.Outbox).
type newInvoiceOutbox interface {
	NewInvoice(ctx context.Context, r storage.WebhookReader, inv *cryptopay.Invoice, e *cryptopay.Event) (*storage.NewInvoice, error)
	Enqueued()
}

// insertNewInvoice writes inv the common way, batched with concurrent
// creations (storage.InvoiceCreator), when its transaction would hold
// nothing but the invoice, its invoice.created event and the event's
// deliveries: no idempotency key to claim, no limits to count, no
// subject to link. A live invoice is written only while no freeze is in
// force, checked in the same statement. done is false when the general
// path must run instead: the batch left inv out (its order id or address
// is taken, a freeze is in force, or the batch failed; the general path
// says which), or the invoice needs more than the batch writes.
func (s *Service) insertNewInvoice(ctx context.Context, inv *cryptopay.Invoice, lc limitCheck) (done bool, err error) {
	outbox, ok := s.outbox.(newInvoiceOutbox)
	if !ok || lc.value != nil || lc.subject != "" || idempotencyClaimed(ctx) {
		return false, nil
	}
	ev := cryptopay.NewInvoiceEvent(cryptopay.EventInvoiceCreated, inv, nil, inv.CreatedAt)
	n, err := outbox.NewInvoice(ctx, s.db, inv, &ev)
	if err != nil {
		return false, err
	}
	if inv.Livemode {
		n.UnlessIncident = IncidentFreeze // as refuseIfFrozen
	}
	switch err := s.db.CreateNewInvoice(ctx, n); {
	case errors.Is(err, storage.ErrNotInserted):
		return false, nil
	case err != nil:
		return false, err
	}
	if len(n.Deliveries) > 0 {
		outbox.Enqueued()
	}
	return true, nil
}

// newInvoice validates p and builds the invoice without touching the
// database's write side.
func (s *Service) newInvoice(ctx context.Context, caller *cryptopay.APIKey, st *cryptopay.Store, p InvoiceParams) (*cryptopay.Invoice, error) {
	if err := validateText("order_id", p.OrderID, maxOrderIDLen, true); err != nil {
		return nil, err
	}
	cur, err := cryptopay.ParseCurrency("currency", p.Currency)
	if err != nil {
		return nil, err
	}
	amount, err := cryptopay.ParseAmount("amount", p.Amount, cur.Decimals)
	if err != nil {
		return nil, err
	}
	network, err := s.pickNetwork(caller, st, p.Network)
	if err != nil {
		return nil, err
	}
	if err := validateText("customer_reference", p.CustomerReference, maxReferenceLen, false); err != nil {
		return nil, err
	}
	if err := validateMetadata(p.Metadata); err != nil {
		return nil, err
	}
	if err := checkPII(st, p.CustomerReference, p.Metadata); err != nil {
		return nil, err
	}
	if err := validateRedirect(p.RedirectURL, caller.Livemode); err != nil {
		return nil, err
	}
	expiry := st.InvoiceExpiry
	if p.ExpiresIn != 0 {
		if p.ExpiresIn < cryptopay.MinInvoiceExpiry || p.ExpiresIn > cryptopay.MaxInvoiceExpiry {
			return nil, cryptopay.Invalid("expires_in", "expires_in must be between %d and %d seconds.",
				int(cryptopay.MinInvoiceExpiry.Seconds()), int(cryptopay.MaxInvoiceExpiry.Seconds()))
		}
		expiry = p.ExpiresIn
	}

	asset, err := s.pickAsset(network, p.Asset)
	if err != nil {
		return nil, err
	}
	due, rate, err := s.price(ctx, amount, cur, asset, st.RateSpreadBasisPoints)
	if err != nil {
		return nil, err
	}
	policy := st.Confirmations
	if network.EVM() {
		policy = s.evm[network].Confirmations() // counted in the chain's blocks
	}
	value, err := s.policyValue(ctx, policy.Currency, amount, cur, due, asset)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	return &cryptopay.Invoice{
		ID:                    cryptopay.NewID(cryptopay.PrefixInvoice, now),
		StoreID:               st.ID,
		Livemode:              caller.Livemode,
		OrderID:               p.OrderID,
		Amount:                amount,
		AmountText:            p.Amount, // validated by ParseAmount above; echoed as sent
		Currency:              cur.Code,
		Network:               network,
		Asset:                 asset.Code,
		CryptoDue:             due,
		Rate:                  rate.text,
		RateSources:           rate.sources,
		RateAt:                rate.at,
		RateSpreadBasisPoints: rate.spreadBP,
		Status:                cryptopay.StatusNew,
		AmountPaid:            new(big.Int),
		AmountConfirmed:       new(big.Int),
		RequiredConfirmations: policy.Required(value),
		CustomerReference:     p.CustomerReference,
		Metadata:              p.Metadata,
		RedirectURL:           p.RedirectURL,
		CreatedAt:             now,
		ExpiresAt:             now.Add(expiry),
		MonitorUntil:          now.Add(expiry + st.MonitoringWindow),
	}, nil
}

// pickNetwork returns the network to bill on: the one asked for, which
// must match the key's mode, or the store's only wallet of that mode.
func (s *Service) pickNetwork(caller *cryptopay.APIKey, st *cryptopay.Store, asked string) (cryptopay.Network, error) {
	if asked != "" {
		n, err := cryptopay.ParseNetwork("network", asked)
		if err != nil {
			return "", err
		}
		if n.Livemode() != caller.Livemode {
			return "", &cryptopay.Error{Code: cryptopay.CodeForbidden, Param: "network",
				Message: fmt.Sprintf("A %s key cannot create invoices on the %s network %s.", modeName(caller.Livemode), modeName(n.Livemode()), n)}
		}
		if _, ok := st.Wallet(n); !ok {
			return "", cryptopay.Invalid("network", "This store has no account key for network %s.", n)
		}
		return n, nil
	}
	for _, w := range st.Wallets {
		if w.Network.Livemode() == caller.Livemode {
			return w.Network, nil
		}
	}
	return "", cryptopay.Errorf(cryptopay.CodeForbidden, "This store has no %s-mode wallet.", modeName(caller.Livemode))
}

// price returns the crypto amount due and the rate locked on the invoice
// (none when the invoice is priced in the asset itself): the quote's rate
// lowered by the store's spread, with the quote's sources and time.
func (s *Service) price(ctx context.Context, amount *big.Int, cur, asset cryptopay.Currency, spreadBP int) (*big.Int, lockedRate, error) {
	if cur.Code == asset.Code {
		return new(big.Int).Set(amount), lockedRate{}, nil
	}
	if cur.Crypto {
		return nil, lockedRate{}, cryptopay.Invalid("currency", "An invoice on this network can be priced in %s or a fiat currency, not %s.", asset.Code, cur.Code)
	}
	if s.rates == nil {
		return nil, lockedRate{}, cryptopay.Errorf(cryptopay.CodeUnavailable, "No exchange rate source is configured; price the invoice in %s.", asset.Code)
	}
	q, err := cryptopay.QuoteRate(ctx, s.rates, asset.Code, cur.Code)
	if err != nil {
		return nil, lockedRate{}, err
	}
	rate := cryptopay.ApplySpread(q.Rate, spreadBP)
	l := lockedRate{rate: rate, text: rate.FloatString(cur.Decimals + 6), sources: q.Sources, spreadBP: spreadBP}
	if !q.At.IsZero() {
		// Whole seconds, rounded down (older, never fresher): the event
		// written now and the invoice read back later show the same time.
		at := q.At.UTC().Truncate(time.Second)
		l.at = &at
	}
	return cryptopay.CryptoDue(amount, cur, rate, asset), l, nil
}

// lockedRate is the rate an invoice is priced at, as stored on it.
type lockedRate struct {
	rate     *big.Rat
	text     string
	sources  []string
	at       *time.Time
	spreadBP int
}

// policyValue expresses the invoice's value in the confirmation policy's
// currency, or nil when no rate allows it (the policy then takes its
// highest tier). An invoice priced in the policy's currency is worth its
// price, which the locked rate turned into the amount due, so the tiers
// and the price rest on the same rate; any other is valued at the current
// rate of the policy's currency.
func (s *Service) policyValue(ctx context.Context, policyCur string, amount *big.Int, cur cryptopay.Currency, due *big.Int, asset cryptopay.Currency) (*big.Int, error) {
	if cur.Code == policyCur {
		return amount, nil
	}
	pc, ok := cryptopay.LookupCurrency(policyCur)
	if !ok || pc.Crypto || s.rates == nil {
		return nil, nil
	}
	rate, err := s.rates.Rate(ctx, asset.Code, pc.Code)
	if err != nil {
		return nil, nil //nolint:nilerr // unknown value: the highest tier applies
	}
	return cryptopay.FiatValue(due, asset, rate, pc), nil
}

// validateText checks a text field a person will read: length in bytes,
// and printable (see cryptopay.PrintableText).
func validateText(param, v string, max int, required bool) error {
	if v == "" {
		if required {
			return cryptopay.Invalid(param, "%s is required.", param)
		}
		return nil
	}
	if len(v) > max {
		return cryptopay.Invalid(param, "%s must be at most %d characters.", param, max)
	}
	if !cryptopay.PrintableText(v) {
		return cryptopay.Invalid(param, "%s must be printable text, without control or format characters (such as U+202E or U+200B).", param)
	}
	return nil
}

func validateMetadata(m map[string]string) error {
	if len(m) > maxMetadataKeys {
		return cryptopay.Invalid("metadata", "metadata may have at most %d keys.", maxMetadataKeys)
	}
	for k, v := range m {
		if k == "" || len(k) > maxMetadataKeyLen {
			return cryptopay.Invalid("metadata", "metadata keys must be 1 to %d characters.", maxMetadataKeyLen)
		}
		if err := validateText("metadata["+k+"]", k, maxMetadataKeyLen, true); err != nil {
			return err
		}
		if err := validateText("metadata["+k+"]", v, maxMetadataValLen, false); err != nil {
			return err
		}
	}
	return nil
}

func validateRedirect(raw string, live bool) error {
	if raw == "" {
		return nil
	}
	if len(raw) > maxRedirectURLLen {
		return cryptopay.Invalid("redirect_url", "redirect_url must be at most %d characters.", maxRedirectURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return cryptopay.Invalid("redirect_url", "redirect_url must be an absolute http(s) URL without credentials.")
	}
	if live && u.Scheme != "https" {
		return cryptopay.Invalid("redirect_url", "redirect_url must use https in live mode.")
	}
	return nil
}

// GetInvoice returns an invoice with its payments. An invoice of another
// store or of the other mode is not found, exactly like one that does not
// exist.
func (s *Service) GetInvoice(ctx context.Context, caller *cryptopay.APIKey, id string) (*cryptopay.Invoice, error) {
	if !cryptopay.ValidID(cryptopay.PrefixInvoice, id) {
		return nil, cryptopay.Invalid("id", "%q is not an invoice id.", id)
	}
	inv, err := s.db.GetInvoice(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFound("invoice", id)
	}
	if err != nil {
		return nil, err
	}
	if !visibleTo(caller, inv.StoreID, inv.Livemode) {
		return nil, notFound("invoice", id)
	}
	if err := s.openSubjects(ctx, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// InvoiceQuery filters a list of invoices. Every filter is served by an
// index (see storage.InvoiceFilter), so any combination pages in about the
// same time at any number of invoices.
type InvoiceQuery struct {
	Status        string
	OrderID       string
	Flag          string // a flag name such as "paid_over", "" for any
	Amount        string // a decimal price such as "12.50" in the invoice's currency, "" for any
	CreatedFrom   time.Time
	CreatedBefore time.Time
	Limit         int
	StartingAfter string
	StoreID       string // operators only; API callers are limited to their store
	Livemode      bool   // operators only
}

// ListInvoices lists the caller's invoices newest first. has_more says
// whether another page follows.
func (s *Service) ListInvoices(ctx context.Context, caller *cryptopay.APIKey, q InvoiceQuery) ([]cryptopay.Invoice, bool, error) {
	f := storage.InvoiceFilter{StoreID: q.StoreID, Livemode: q.Livemode, OrderID: q.OrderID}
	if caller != nil {
		f.StoreID, f.Livemode = caller.StoreID, caller.Livemode
	}
	if q.Status != "" {
		st, err := cryptopay.ParseStatus("status", q.Status)
		if err != nil {
			return nil, false, err
		}
		f.Status = st
	}
	if q.OrderID != "" {
		if err := validateText("order_id", q.OrderID, maxOrderIDLen, false); err != nil {
			return nil, false, err
		}
	}
	if err := invoiceListFilter(&f, q); err != nil {
		return nil, false, err
	}
	page, err := parsePage(q.Limit, q.StartingAfter, cryptopay.PrefixInvoice)
	if err != nil {
		return nil, false, err
	}
	f.Page = page
	if q.Amount != "" && len(f.Prices) == 0 {
		return nil, false, nil // no currency has this price
	}
	invs, more, err := s.db.ListInvoices(ctx, f)
	if err != nil {
		return nil, false, err
	}
	for i := range invs {
		if err := s.openSubjects(ctx, &invs[i]); err != nil {
			return nil, false, err
		}
	}
	return invs, more, nil
}

func parsePage(limit int, after, prefix string) (storage.Page, error) {
	if limit == 0 {
		limit = defaultListLimit
	}
	if limit < 1 || limit > maxListLimit {
		return storage.Page{}, cryptopay.Invalid("limit", "limit must be between 1 and %d.", maxListLimit)
	}
	if after != "" && !cryptopay.ValidID(prefix, after) {
		return storage.Page{}, cryptopay.Invalid("starting_after", "starting_after %q is not a valid id.", after)
	}
	return storage.Page{Limit: limit, StartingAfter: after}, nil
}

// ListEvents lists the caller's events newest first.
func (s *Service) ListEvents(ctx context.Context, caller *cryptopay.APIKey, invoiceID, typ string, limit int, after string) ([]cryptopay.Event, bool, error) {
	f := storage.EventFilter{StoreID: caller.StoreID, Livemode: caller.Livemode}
	if invoiceID != "" {
		if !cryptopay.ValidID(cryptopay.PrefixInvoice, invoiceID) {
			return nil, false, cryptopay.Invalid("invoice", "%q is not an invoice id.", invoiceID)
		}
		f.InvoiceID = invoiceID
	}
	if typ != "" {
		t := cryptopay.EventType(typ)
		found := false
		for _, k := range cryptopay.EventTypes {
			found = found || k == t
		}
		if !found {
			return nil, false, cryptopay.Invalid("type", "%q is not an event type.", typ)
		}
		f.Type = t
	}
	page, err := parsePage(limit, after, cryptopay.PrefixEvent)
	if err != nil {
		return nil, false, err
	}
	f.Page = page
	return s.db.ListEvents(ctx, f)
}
