package checkout

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// Logo serves GET /pay/{id}/logo: the logo of the invoice's store, from
// the gateway's own database (never a third party's server), with the
// media type sniffed when it was uploaded. 404 when the store has none.
func (h *Handler) Logo(w http.ResponseWriter, r *http.Request) {
	inv, ok := h.invoice(w, r, false)
	if !ok {
		return
	}
	set, err := h.svc.StoreSettings(r.Context(), inv.StoreID)
	if err != nil {
		h.log.ErrorContext(r.Context(), "checkout: store settings lookup failed", "invoice", inv.ID, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if set.Logo == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", set.LogoType) // one of image/png, image/jpeg, image/gif (gateway.SniffLogo)
	w.Header().Set("Content-Disposition", "inline")
	h.cacheByVersion(w, r, shortHash(set.Logo))
	_, _ = w.Write(set.Logo)
}

// Theme serves GET /pay/{id}/theme.css: the store's colour as CSS custom
// properties, so the colour applies under the strict Content-Security-
// Policy (no inline style). Text on the colour is black or white, which
// ever reads better; the colour as text on white is darkened until it
// reaches WCAG AA contrast.
func (h *Handler) Theme(w http.ResponseWriter, r *http.Request) {
	inv, ok := h.invoice(w, r, false)
	if !ok {
		return
	}
	set, err := h.svc.StoreSettings(r.Context(), inv.StoreID)
	if err != nil {
		h.log.ErrorContext(r.Context(), "checkout: store settings lookup failed", "invoice", inv.ID, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	if set.BrandColor == "" {
		_, _ = w.Write([]byte("/* the store keeps the default colour */\n"))
		return
	}
	rgb, ok := parseHex(set.BrandColor)
	if !ok { // validated when stored; never write what was not
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h.cacheByVersion(w, r, set.BrandColor[1:])
	_, _ = w.Write([]byte(themeCSS(rgb)))
}

// cacheByVersion lets the browser keep a response for long when the URL
// names the current version, briefly otherwise.
func (h *Handler) cacheByVersion(w http.ResponseWriter, r *http.Request, version string) {
	if r.URL.Query().Get("v") == version {
		w.Header().Set("Cache-Control", "private, max-age=86400")
	} else {
		w.Header().Set("Cache-Control", "private, max-age=60")
	}
}

// themeCSS is the stylesheet of one brand colour.
func themeCSS(rgb [3]uint8) string {
	onBrand := "#ffffff"
	if contrast(rgb, [3]uint8{0, 0, 0}) > contrast(rgb, [3]uint8{255, 255, 255}) {
		onBrand = "#000000"
	}
	ink := rgb
	for contrast(ink, [3]uint8{255, 255, 255}) < 4.5 {
		for i := range ink {
			ink[i] = uint8(float64(ink[i]) * 0.9)
		}
	}
	hover := rgb
	for i := range hover {
		hover[i] = uint8(float64(hover[i]) * 0.85)
	}
	return fmt.Sprintf(":root {\n\t--brand: %s;\n\t--brand-hover: %s;\n\t--on-brand: %s;\n\t--brand-ink: %s;\n}\n",
		hexColor(rgb), hexColor(hover), onBrand, hexColor(ink))
}

func parseHex(s string) ([3]uint8, bool) {
	var rgb [3]uint8
	if len(s) != 7 || s[0] != '#' {
		return rgb, false
	}
	for i := range rgb {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return rgb, false
		}
		rgb[i] = uint8(v)
	}
	return rgb, true
}

func hexColor(rgb [3]uint8) string { return fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]) }

// contrast is the WCAG 2 contrast ratio of two sRGB colours (1 to 21).
func contrast(a, b [3]uint8) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG 2's relative luminance of an sRGB colour.
func luminance(rgb [3]uint8) float64 {
	var ch [3]float64
	for i, v := range rgb {
		c := float64(v) / 255
		if c <= 0.04045 {
			ch[i] = c / 12.92
		} else {
			ch[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2]
}
