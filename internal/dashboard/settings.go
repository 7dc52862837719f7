package dashboard

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// The settings page shows every setting of the store to whoever may see
// the store, and to its owner five forms: general (name, expiry, window,
// tolerance, spread, confirmation tiers), checkout (colour, contacts,
// explorer, logo), limits and retention, and the account key (in two
// steps: a preview to compare with the wallet, then the confirmed change). Each form
// is sent alone and calls one gateway service, which holds the rules,
// audits the change and changes nothing when a value is refused; the page
// then shows the refused form again with the message at its field.

type settingsView struct {
	Store      *cryptopay.Store
	Checkout   *cryptopay.StoreSettings
	Compliance *storage.ComplianceSettings
	CanEdit    bool
	// Form holds the values the inputs show: the current settings, or what
	// was sent when a value was refused. Errors holds a message per field.
	Form   map[string]string
	Errors map[string]string
}

// Val returns the value an input shows.
func (v *settingsView) Val(field string) string { return v.Form[field] }

// Err returns the message for a refused field ("" when none).
func (v *settingsView) Err(field string) string { return v.Errors[field] }

// Invalid reports whether a field was refused (for aria-invalid).
func (v *settingsView) Invalid(field string) bool { return v.Errors[field] != "" }

// The fields of each form.
var (
	generalFields = []string{"name", "invoice_expiry", "monitoring_window", "tolerance", "rate_spread",
		"confirmations", "confirmations_currency", "confirmations_zero_conf_below"}
	checkoutFields = []string{"brand_color", "support_url", "support_email", "explorer_tx_url"}
	limitFields    = []string{"max_invoice", "daily", "monthly", "customer_daily", "warn_percent",
		"personal_retention_days", "financial_retention_days"}
)

// savedMessages are the notes a settings page shows after a change.
var savedMessages = map[string]string{
	"general":     "General settings saved; they apply to invoices created from now on.",
	"checkout":    "Checkout settings saved.",
	"logo":        "Logo saved.",
	"limits":      "Limits and retention saved.",
	"account_key": "Account key replaced. New invoices derive their addresses from it, in order from the address the preview showed, so its wallet sees their payments; invoices already created keep theirs and are still watched.",
}

// currentForm renders the store's settings as the forms show them.
func currentForm(st *cryptopay.Store, co *cryptopay.StoreSettings, c *storage.ComplianceSettings) map[string]string {
	tiers, zero := st.Confirmations.Spec()
	f := map[string]string{
		"name":                          st.Name,
		"invoice_expiry":                minutes(st.InvoiceExpiry),
		"monitoring_window":             hours(st.MonitoringWindow),
		"tolerance":                     strconv.Itoa(st.ToleranceBasisPoints),
		"rate_spread":                   strconv.Itoa(st.RateSpreadBasisPoints),
		"confirmations":                 tiers,
		"confirmations_currency":        st.Confirmations.Currency,
		"confirmations_zero_conf_below": zero,
		"brand_color":                   co.BrandColor,
		"support_url":                   co.SupportURL,
		"support_email":                 co.SupportEmail,
		"explorer_tx_url":               co.ExplorerTxURL,
		"warn_percent":                  strconv.Itoa(c.WarnBasisPoints / 100),
		"personal_retention_days":       strconv.Itoa(c.PersonalRetentionDays),
		"financial_retention_days":      strconv.Itoa(c.FinancialRetentionDays),
	}
	cur, _ := cryptopay.LookupCurrency(c.Currency)
	for k, v := range map[string]int64{"max_invoice": c.MaxInvoice, "daily": c.Daily, "monthly": c.Monthly, "customer_daily": c.CustomerDaily} {
		if v != 0 {
			f[k] = cryptopay.FormatAmount(big.NewInt(v), cur.Decimals)
		}
	}
	for _, w := range st.Wallets {
		if !w.Network.EVM() {
			f["network"] = string(w.Network)
			break
		}
	}
	return f
}

// minutes and hours write a duration as the form's whole number, or as a
// Go duration ("90s") when it is not whole, so an unchanged form sends
// back exactly what it showed.
func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10)
	}
	return d.String()
}

func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10)
	}
	return d.String()
}

// loadSettings reads everything the settings page shows.
func (h *Handler) loadSettings(r *http.Request, p *page) (*settingsView, error) {
	st := p.Access.Store
	co, err := h.svc.StoreSettings(r.Context(), st.ID)
	if err != nil {
		return nil, err
	}
	c, err := h.svc.Compliance(r.Context(), st.ID)
	if err != nil {
		return nil, err
	}
	return &settingsView{Store: st, Checkout: co, Compliance: c, CanEdit: p.Access.Role == storage.RoleOwner,
		Form: currentForm(st, co, c), Errors: map[string]string{}}, nil
}

func (h *Handler) settings(w http.ResponseWriter, r *http.Request, p *page) error {
	q := r.URL.Query()
	for k := range q {
		if k != "saved" {
			return cryptopay.Invalid(k, "Unknown parameter %q.", k)
		}
	}
	p.Flash = savedMessages[q.Get("saved")]
	v, err := h.loadSettings(r, p)
	if err != nil {
		return err
	}
	p.Title, p.Nav, p.Data = "Settings", "settings", v
	h.render(w, http.StatusOK, "settings", p)
	return nil
}

// owner wraps the handlers that change a store's settings: only its owner
// (or an operator) may. The API has no scope for store settings, so the
// role decides; the owner's caller holds every scope.
func (h *Handler) owner(fn func(w http.ResponseWriter, r *http.Request, p *page) error) http.HandlerFunc {
	return h.store(cryptopay.ScopeKeysWrite, func(w http.ResponseWriter, r *http.Request, p *page) error {
		if p.Access.Role != storage.RoleOwner {
			return cryptopay.Errorf(cryptopay.CodeForbidden, "Only the store's owner may change its settings; your role is %s.", p.Access.Role)
		}
		return fn(w, r, p)
	})
}

// settingsDone answers a change: back to the settings page (a reload then
// sends nothing again), which says what changed.
func settingsDone(w http.ResponseWriter, r *http.Request, p *page, what string) {
	http.Redirect(w, r, fmt.Sprintf("/dashboard/stores/%s/settings?saved=%s#%s", p.Access.Store.ID, what, what), http.StatusSeeOther)
}

// refused shows the settings page again after a refused change: the
// form's fields as sent, the message at the field the service named, and
// nothing changed. Errors other than a refused value go to the error page.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, p *page, sent map[string]string, err error) error {
	var ce *cryptopay.Error
	if !errors.As(err, &ce) || ce.Code != cryptopay.CodeInvalid && ce.Code != cryptopay.CodeConflict {
		return err
	}
	v, lerr := h.loadSettings(r, p)
	if lerr != nil {
		return lerr
	}
	for k, val := range sent {
		v.Form[k] = val
	}
	field := strings.ReplaceAll(ce.Param, ".", "_")
	if field == "" {
		field = "form"
	}
	v.Errors[field] = ce.Message
	p.Title, p.Nav, p.Data = "Settings", "settings", v
	p.Error = "Nothing was changed: " + ce.Message
	h.render(w, http.StatusBadRequest, "settings", p)
	return nil
}

// sentValues returns the form's values by field.
func sentValues(f map[string][]string, fields []string) map[string]string {
	out := map[string]string{}
	for _, k := range fields {
		if vs := f[k]; len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

// wholeNumber reads a whole-number field, leaving its range to the
// service; unit names the unit for the message.
func wholeNumber(field, v, unit string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, cryptopay.Invalid(field, "Enter a whole number of %s.", unit)
	}
	return n, nil
}

// updateGeneral changes the name, expiry, window, tolerance, spread and
// confirmation tiers. Only fields whose value differs from what the form
// showed are sent to the service, so an untouched field never changes.
func (h *Handler) updateGeneral(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, generalFields...)
	if err != nil {
		return err
	}
	sent := sentValues(f, generalFields)
	for _, k := range generalFields {
		if _, ok := sent[k]; !ok && k != "confirmations_zero_conf_below" {
			return h.refused(w, r, p, sent, cryptopay.Invalid(k, "This field is missing from the form; reload the page."))
		}
	}
	st := p.Access.Store
	cur := currentForm(st, &cryptopay.StoreSettings{}, &storage.ComplianceSettings{})
	changed := func(k string) bool { return strings.TrimSpace(sent[k]) != cur[k] }
	var u gateway.StoreUpdate
	if changed("name") {
		name := sent["name"]
		u.Name = &name
	}
	for _, d := range []struct {
		field, unit string
		scale       time.Duration
		dst         **time.Duration
	}{{"invoice_expiry", "minutes", time.Minute, &u.InvoiceExpiry}, {"monitoring_window", "hours", time.Hour, &u.MonitoringWindow}} {
		if !changed(d.field) {
			continue
		}
		n, err := wholeNumber(d.field, sent[d.field], d.unit)
		if err != nil {
			return h.refused(w, r, p, sent, err)
		}
		v := time.Duration(n) * d.scale
		*d.dst = &v
	}
	for _, b := range []struct {
		field string
		dst   **int
	}{{"tolerance", &u.ToleranceBasisPoints}, {"rate_spread", &u.RateSpreadBasisPoints}} {
		if !changed(b.field) {
			continue
		}
		n, err := wholeNumber(b.field, sent[b.field], "basis points")
		if err != nil {
			return h.refused(w, r, p, sent, err)
		}
		*b.dst = &n
	}
	if changed("confirmations") || changed("confirmations_currency") || changed("confirmations_zero_conf_below") {
		pol, err := cryptopay.ParseConfirmationPolicy("confirmations", strings.TrimSpace(sent["confirmations_currency"]),
			strings.TrimSpace(sent["confirmations"]), strings.TrimSpace(sent["confirmations_zero_conf_below"]))
		if err != nil {
			return h.refused(w, r, p, sent, err)
		}
		u.Confirmations = &pol
	}
	if _, err := h.svc.UpdateStore(r.Context(), st.ID, u); err != nil {
		return h.refused(w, r, p, sent, err)
	}
	settingsDone(w, r, p, "general")
	return nil
}

// updateCheckout changes the checkout page's colour, contacts and block
// explorer (gateway.UpdateStoreSettings).
func (h *Handler) updateCheckout(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, checkoutFields...)
	if err != nil {
		return err
	}
	sent := sentValues(f, checkoutFields)
	var sp gateway.StoreSettingsParams
	for k, dst := range map[string]**string{"brand_color": &sp.BrandColor, "support_url": &sp.SupportURL,
		"support_email": &sp.SupportEmail, "explorer_tx_url": &sp.ExplorerTxURL} {
		if v, ok := sent[k]; ok {
			v = strings.TrimSpace(v)
			*dst = &v
		}
	}
	if _, err := h.svc.UpdateStoreSettings(r.Context(), p.Access.Store.ID, sp); err != nil {
		return h.refused(w, r, p, sent, err)
	}
	settingsDone(w, r, p, "checkout")
	return nil
}

// maxLogoForm bounds a logo upload: the largest logo the service takes and
// room for the form's other parts.
const maxLogoForm = cryptopay.MaxLogoBytes + 16<<10

// updateLogo replaces the checkout logo with an uploaded file, or removes
// it (remove=1, sent as an ordinary form). The service sniffs and decodes
// the image; the file's name and declared type are ignored.
func (h *Handler) updateLogo(w http.ResponseWriter, r *http.Request, p *page) error {
	var sp gateway.StoreSettingsParams
	if mf := r.MultipartForm; mf != nil {
		for k := range mf.Value {
			if k != "csrf" {
				return cryptopay.Invalid(k, "Unknown field %q.", k)
			}
		}
		files := mf.File["logo"]
		if len(mf.File) != 1 || len(files) != 1 {
			return h.refused(w, r, p, nil, cryptopay.Invalid("logo", "Choose one image file."))
		}
		b, err := readUpload(files[0])
		if err != nil {
			return err
		}
		sp.Logo = b
	} else {
		f, err := form(w, r, "remove")
		if err != nil {
			return err
		}
		if f.Get("remove") != "1" {
			return cryptopay.Invalid("remove", "Choose a logo file to upload, or remove the logo.")
		}
		sp.RemoveLogo = true
	}
	if _, err := h.svc.UpdateStoreSettings(r.Context(), p.Access.Store.ID, sp); err != nil {
		return h.refused(w, r, p, nil, err)
	}
	settingsDone(w, r, p, "logo")
	return nil
}

func readUpload(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, cryptopay.Invalid("logo", "The file could not be read.")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, cryptopay.MaxLogoBytes+1))
	if err != nil {
		return nil, cryptopay.Invalid("logo", "The file could not be read.")
	}
	if b == nil {
		b = []byte{} // an empty file is refused as empty, not taken as "no logo"
	}
	return b, nil
}

// updateLimits sets the compliance limits and retention
// (gateway.SetCompliance, which replaces them as a whole: the form sends
// every value; an empty limit is no limit).
func (h *Handler) updateLimits(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, limitFields...)
	if err != nil {
		return err
	}
	sent := sentValues(f, limitFields)
	cp := gateway.ComplianceParams{MaxInvoice: strings.TrimSpace(sent["max_invoice"]), Daily: strings.TrimSpace(sent["daily"]),
		Monthly: strings.TrimSpace(sent["monthly"]), CustomerDaily: strings.TrimSpace(sent["customer_daily"])}
	for _, n := range []struct {
		field, unit string
		dst         *int
	}{{"warn_percent", "percent", &cp.WarnPercent}, {"personal_retention_days", "days", &cp.PersonalRetentionDays},
		{"financial_retention_days", "days", &cp.FinancialRetentionDays}} {
		if strings.TrimSpace(sent[n.field]) == "" {
			continue // the service's default
		}
		if *n.dst, err = wholeNumber(n.field, sent[n.field], n.unit); err != nil {
			return h.refused(w, r, p, sent, err)
		}
	}
	if _, err := h.svc.SetCompliance(r.Context(), p.Access.Store.ID, cp); err != nil {
		return h.refused(w, r, p, sent, err)
	}
	settingsDone(w, r, p, "limits")
	return nil
}

// previewAccountKey is the first step of replacing the account key: the
// service checks the key and the page shows what it would do (its
// fingerprint and the first address new invoices would get), to compare
// with the wallet before confirming. A refused key is never shown back:
// it may be a private key pasted by mistake.
func (h *Handler) previewAccountKey(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "network", "account_key")
	if err != nil {
		return err
	}
	pv, err := h.svc.PreviewAccountKey(r.Context(), p.Access.Store.ID, f.Get("network"), f.Get("account_key"))
	if err != nil {
		return h.refused(w, r, p, map[string]string{"network": f.Get("network")}, err)
	}
	p.Title, p.Nav, p.Data = "Replace the account key", "settings", pv
	h.render(w, http.StatusOK, "account_key", p)
	return nil
}

// replaceAccountKey is the second step: the owner ticked that their
// wallet shows the previewed address, and the key is replaced if it is
// still the one previewed (its fingerprint travels with the form).
func (h *Handler) replaceAccountKey(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := form(w, r, "network", "account_key", "fingerprint", "confirm")
	if err != nil {
		return err
	}
	if f.Get("confirm") != "yes" {
		return cryptopay.Invalid("confirm", "Tick the box to confirm that your wallet shows the address; nothing was changed.")
	}
	if _, err := h.svc.ReplaceAccountKey(r.Context(), p.Access.Store.ID, f.Get("network"), f.Get("account_key"), f.Get("fingerprint")); err != nil {
		return h.refused(w, r, p, map[string]string{"network": f.Get("network")}, err)
	}
	settingsDone(w, r, p, "account_key")
	return nil
}
