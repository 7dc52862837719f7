// Package checkout is the payer's hosted checkout page: GET /pay/{id} shows
// an invoice's amount, deposit address, a QR code of its BIP21 URI, a
// countdown and its live state, updated through server-sent events, with a
// periodic reload as the fallback without JavaScript.
//
// The page is public: the invoice id, unguessable, is the only credential,
// so it shows only what the payer needs (store name, order id, amounts,
// address, status, confirmations, expiry, redirect URL) and never metadata
// or the customer reference. Templates and assets are embedded; the page
// has no inline script or style, so the strict Content-Security-Policy the
// HTTP layer sets holds. Every word is in strings.go.
//
// It is not the merchant API: it creates and changes nothing, and the HTTP
// server (internal/httpapi) mounts its handlers.
package checkout

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// AssetPrefix is the path the page's assets are served under (see Asset).
const AssetPrefix = "/static/checkout/"

// Handler serves the checkout page, its events, its QR codes, the
// store's logo and colour, and its assets. It is safe for concurrent use.
type Handler struct {
	svc  *gateway.Service
	log  *slog.Logger
	tmpl *template.Template

	assets  map[string][]byte // file name → content
	version map[string]string // file name → content hash, for cache busting

	// Event stream tuning; tests shorten them.
	poll      time.Duration // how often a stream re-reads its invoice
	heartbeat time.Duration // comment sent on an idle stream so proxies keep it
	lifetime  time.Duration // a stream ends after this; EventSource reconnects
	streams   atomic.Int64  // open streams
	maxStream int64         // more are refused with 503
	// Open streams per invoice and per client address, so that one id, or
	// one client, cannot take every slot of maxStream; more get 429.
	perInvoice, perClient int
	open                  streamCounts
	clientAddr            func(*http.Request) string
}

// New returns a Handler over svc. The page speaks the payer's language
// (Accept-Language, or ?lang=). It panics only if the embedded templates
// are broken, which the tests rule out.
func New(svc *gateway.Service, log *slog.Logger) *Handler {
	h := &Handler{
		svc:       svc,
		log:       cmp.Or(log, slog.New(slog.DiscardHandler)),
		assets:    map[string][]byte{},
		version:   map[string]string{},
		poll:      time.Second,
		heartbeat: 15 * time.Second,
		lifetime:  10 * time.Minute,
		maxStream: 2000,
		// A payer has a tab or two open; a household behind one address a
		// few invoices at once.
		perInvoice: 10,
		perClient:  20,
		clientAddr: peerBucket,
	}
	err := fs.WalkDir(staticFS, "web/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		h.assets[d.Name()], h.version[d.Name()] = b, shortHash(b)
		return err
	})
	if err != nil {
		panic(err)
	}
	h.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"asset":  func(name string) string { return AssetPrefix + name + "?v=" + h.version[name] },
		"printf": fmt.Sprintf,
		"clock":  clock,
	}).ParseFS(templateFS, "web/templates/*.html"))
	return h
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// SetClientAddr sets how a request's client address is named for the
// per-client stream limit: the HTTP server passes its own view (through
// trusted proxies, IPv6 by /64). The default is the TCP peer.
func (h *Handler) SetClientAddr(fn func(*http.Request) string) { h.clientAddr = fn }

// peerBucket names the TCP peer: an IPv4 address or an IPv6 /64.
func peerBucket(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	}
	return a.String()
}

// pageData is what page.html renders.
type pageData struct {
	T        *Catalogue
	Langs    []langLink
	Title    string
	Store    string
	OrderID  string
	TestMode string // the warning on test networks; "" in live mode
	// AddressLabel, QRCaption and CopyAddress name the deposit address
	// for its chain: a bitcoin address, or an address on an EVM network.
	AddressLabel, QRCaption, CopyAddress string
	// Unavailable is the notice shown while an incident freeze is in
	// force (live invoices only); the payment details are then hidden.
	Unavailable string
	State       State
	URI         template.URL // a bitcoin: URI, which html/template would otherwise refuse in href
	EventsURL   string
	LogoURL     string // "" when the store has no logo
	ThemeURL    string // "" when the store keeps the default colour
	Support     support
}

// support is how a payer reaches the shop, from the store's settings.
type support struct {
	URL   template.URL // validated https (http on test stores) URL
	Email string
}

// langLink is one entry of the language links.
type langLink struct {
	Lang, Name, Href string
	Current          bool
}

// checkout is everything one invoice's page is made of.
type checkout struct {
	inv      *cryptopay.Invoice
	store    *cryptopay.Store // nil if it could not be read
	settings *cryptopay.StoreSettings
	c        *Catalogue
}

func (k *checkout) view() view {
	v := view{c: k.c, explorer: k.settings.ExplorerTxURL}
	if k.store != nil {
		v.tolerance = k.store.ToleranceBasisPoints
	}
	return v
}

// load reads the store and its settings for inv. A failure is logged and
// leaves the defaults: the payer still sees the payment.
func (h *Handler) load(r *http.Request, inv *cryptopay.Invoice) *checkout {
	k := &checkout{inv: inv, c: negotiate(r), settings: &cryptopay.StoreSettings{StoreID: inv.StoreID}}
	st, err := h.svc.GetStore(r.Context(), inv.StoreID)
	if err != nil {
		h.log.WarnContext(r.Context(), "checkout: store lookup failed", "invoice", inv.ID, "err", err)
		return k
	}
	k.store = st
	if set, err := h.svc.StoreSettings(r.Context(), inv.StoreID); err == nil {
		k.settings = set
	} else {
		h.log.WarnContext(r.Context(), "checkout: store settings lookup failed", "invoice", inv.ID, "err", err)
	}
	return k
}

// Page serves GET /pay/{id}: the checkout page, or a 404 page for an id
// that is malformed or unknown (the two look the same).
func (h *Handler) Page(w http.ResponseWriter, r *http.Request) {
	inv, ok := h.invoice(w, r, true)
	if !ok {
		return
	}
	k := h.load(r, inv)
	w.Header().Set("Vary", "Accept-Language")
	d := h.pageData(k)
	if h.frozen(r.Context(), inv) {
		withhold(&d.State, k.c)
		d.Unavailable, d.URI = d.State.Unavailable, ""
	}
	h.render(w, r, http.StatusOK, "page.html", d)
}

// frozen reports whether inv's payment details must be withheld: it is a
// live invoice and an incident freeze is in force. The page, every state
// its event stream sends and the QR code all ask, so a payer never gets
// somewhere to pay during a freeze. Fail closed: if the freeze cannot be
// read, ask for nothing.
func (h *Handler) frozen(ctx context.Context, inv *cryptopay.Invoice) bool {
	if !inv.Livemode {
		return false
	}
	frozen, err := h.svc.Frozen(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "checkout: reading the incident freeze failed; withholding payment details", "invoice", inv.ID, "err", err)
	}
	return frozen || err != nil
}

// withhold turns st into the state shown during a freeze: the notice,
// nothing payable, and no address, payment URI or QR code to pay to. A
// state that asked for a payment loses its instructions ("send the exact
// amount to the address below"): the notice replaces them.
func withhold(st *State, c *Catalogue) {
	if st.Payable {
		st.Message, st.ExchangeWarning = "", ""
	}
	st.Unavailable, st.Payable = c.Unavailable, false
	st.Address, st.URI, st.QRURL = "", "", ""
}

func (h *Handler) pageData(k *checkout) pageData {
	inv, c := k.inv, k.c
	storeName := ""
	if k.store != nil {
		storeName = k.store.Name
	}
	d := pageData{
		T:         c,
		Title:     fmt.Sprintf(c.PageTitle, cmp.Or(storeName, inv.OrderID)),
		Store:     storeName,
		OrderID:   inv.OrderID,
		State:     h.state(k),
		EventsURL: "/pay/" + inv.ID + "/events?lang=" + c.Lang,
		Support:   support{URL: template.URL(k.settings.SupportURL), Email: k.settings.SupportEmail}, // validated when stored
	}
	d.URI = template.URL(d.State.URI) // built by paymentURI from a derived address and an amount
	d.AddressLabel, d.QRCaption, d.CopyAddress = c.AddressLabel, c.QRCaption, c.CopyAddress
	if inv.Network.EVM() {
		d.AddressLabel = fmt.Sprintf(c.AddressLabelEVM, inv.Network)
		d.QRCaption = fmt.Sprintf(c.QRCaptionEVM, inv.Network)
		d.CopyAddress = c.CopyAddressEVM
	}
	if !inv.Livemode {
		d.TestMode = fmt.Sprintf(c.TestMode, inv.Network)
		if inv.Network.EVM() {
			d.TestMode = fmt.Sprintf(c.TestModeEVM, inv.Network, d.State.Asset)
		}
	}
	if k.settings.Logo != nil {
		d.LogoURL = "/pay/" + inv.ID + "/logo?v=" + shortHash(k.settings.Logo)
	}
	if k.settings.BrandColor != "" {
		d.ThemeURL = "/pay/" + inv.ID + "/theme.css?v=" + strings.TrimPrefix(k.settings.BrandColor, "#")
	}
	for _, l := range catalogues {
		d.Langs = append(d.Langs, langLink{Lang: l.Lang, Name: l.Name, Href: "/pay/" + inv.ID + "?lang=" + l.Lang, Current: l == c})
	}
	return d
}

// invoice validates the path's id and loads the invoice, writing the 404
// or 500 response itself when it returns false. page chooses an HTML error
// page over a plain-text one.
func (h *Handler) invoice(w http.ResponseWriter, r *http.Request, page bool) (*cryptopay.Invoice, bool) {
	id := r.PathValue("id")
	if !cryptopay.ValidID(cryptopay.PrefixInvoice, id) {
		h.notFound(w, r, page)
		return nil, false
	}
	inv, err := h.svc.GetInvoice(r.Context(), nil, id)
	switch {
	case cryptopay.ErrorCode(err) == cryptopay.CodeNotFound:
		h.notFound(w, r, page)
		return nil, false
	case err != nil:
		if r.Context().Err() == nil {
			h.log.ErrorContext(r.Context(), "checkout: invoice lookup failed", "invoice", id, "err", err)
		}
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, false
	}
	return inv, true
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, page bool) {
	if !page {
		http.Error(w, negotiate(r).NotFoundTitle, http.StatusNotFound)
		return
	}
	c := negotiate(r)
	h.render(w, r, http.StatusNotFound, "notfound.html", pageData{T: c, Title: c.NotFoundTitle})
}

// render executes a template into a buffer first, so that a failure sends
// a clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		h.log.ErrorContext(r.Context(), "checkout: rendering failed", "template", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// QR serves GET /pay/{id}/qr.svg?amount=: the QR code of the BIP21 URI
// paying amount (a decimal of the invoice's asset, at most what the
// invoice is for) to the invoice's address. Without amount it is the
// amount still due. A malformed or out-of-range amount is a 400: the
// endpoint draws only this invoice's payment requests.
func (h *Handler) QR(w http.ResponseWriter, r *http.Request) {
	inv, ok := h.invoice(w, r, false)
	if !ok {
		return
	}
	if h.frozen(r.Context(), inv) {
		w.Header().Set("Retry-After", "60")
		http.Error(w, negotiate(r).Unavailable, http.StatusServiceUnavailable)
		return
	}
	asset, known := cryptopay.LookupCurrency(inv.Asset)
	if !known {
		asset = inv.Network.Asset()
	}
	amount := inv.AmountDue()
	if amount.Sign() == 0 {
		amount = inv.CryptoDue
	}
	if q := r.URL.Query().Get("amount"); q != "" {
		a, err := cryptopay.ParseAmount("amount", q, asset.Decimals)
		if err != nil || a.Sign() <= 0 || a.Cmp(inv.CryptoDue) > 0 {
			http.Error(w, "amount must be a positive decimal no larger than the invoice's amount", http.StatusBadRequest)
			return
		}
		amount = a
	}
	uri := paymentURI(inv.Network, inv.Address, amount, asset.Decimals)
	if inv.Network.EVM() {
		uri = h.svc.PaymentURIFor(inv, amount)
	}
	svg, err := qrSVG(uri, fmt.Sprintf(negotiate(r).QRTitle, uri))
	if err != nil {
		h.log.ErrorContext(r.Context(), "checkout: QR code failed", "invoice", inv.ID, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	// The image is a function of the URL (address and amount never change
	// for an invoice), so the browser may keep it.
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(svg)
}

// Asset serves GET /static/checkout/{file}: the page's embedded stylesheet,
// script and icons. Names outside the embedded set are 404.
func (h *Handler) Asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}[path.Ext(name)]
	w.Header().Set("Content-Type", cmp.Or(ct, "application/octet-stream"))
	if r.URL.Query().Get("v") == h.version[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	_, _ = w.Write(b)
}

// errStreamBusy is logged when a stream is refused for the open-stream limit.
var errStreamBusy = errors.New("checkout: too many open event streams")

// clock formats seconds as the page's countdown does: "9:05", "1:02:03".
func clock(secs int64) string {
	secs = max(secs, 0)
	h, m, s := secs/3600, secs%3600/60, secs%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// state is newState with what needs the gateway's chain configuration: an
// EVM invoice's EIP-681 URI (chain id, token contract) and the warning to
// pay on its chain only (one address exists on every EVM chain: the most
// common stablecoin mistake).
func (h *Handler) state(k *checkout) State {
	inv := k.inv
	st := newState(inv, h.svc.Now(), k.view())
	if inv.Network.EVM() {
		amount := inv.AmountDue()
		if amount.Sign() == 0 {
			amount = inv.CryptoDue
		}
		st.URI = h.svc.PaymentURIFor(inv, amount)
		st.Warning = fmt.Sprintf(k.c.WrongChain, st.Asset, inv.Network, st.Asset)
	}
	return st
}
