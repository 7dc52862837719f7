package checkout

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay/internal/gateway"
)

func pngLogo(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 80, 20))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestStoreLogoAndColour: the page links the store's logo and colour,
// both served by the gateway from the store's settings; without settings
// there is neither, and the logo of one store never answers for another
// invoice id's store.
func TestStoreLogoAndColour(t *testing.T) {
	f := newFixture(t)
	inv := f.invoice(usdOrder)
	_, body := f.get("/pay/" + inv.ID)
	if strings.Contains(body, "/logo") || strings.Contains(body, "theme.css") {
		t.Fatalf("a store without settings links a logo or theme:\n%s", body)
	}
	if resp, _ := f.get("/pay/" + inv.ID + "/logo"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("logo of a store without one: %d, want 404", resp.StatusCode)
	}
	logo := pngLogo(t)
	color := "#ffd23f" // light: text on it must be black
	if _, err := f.svc.UpdateStoreSettings(context.Background(), f.store.ID, gateway.StoreSettingsParams{BrandColor: &color, Logo: logo}); err != nil {
		t.Fatal(err)
	}
	_, body = f.get("/pay/" + inv.ID)
	for _, want := range []string{`src="/pay/` + inv.ID + `/logo?v=`, `href="/pay/` + inv.ID + `/theme.css?v=ffd23f"`, `alt="Corner Bookshop logo"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	resp, got := f.get("/pay/" + inv.ID + "/logo")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || got != string(logo) {
		t.Fatalf("logo: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}
	resp, css := f.get("/pay/" + inv.ID + "/theme.css?v=ffd23f")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") ||
		!strings.Contains(css, "--brand: #ffd23f;") || !strings.Contains(css, "--on-brand: #000000;") || !strings.Contains(resp.Header.Get("Cache-Control"), "86400") {
		t.Fatalf("theme: %d %v\n%s", resp.StatusCode, resp.Header, css)
	}
}

// TestThemeContrast derives the colours from WCAG's formula: text on the
// brand colour and the brand colour as text on white both reach 4.5:1.
func TestThemeContrast(t *testing.T) {
	white, black := [3]uint8{255, 255, 255}, [3]uint8{0, 0, 0}
	if c := contrast(white, black); c < 20.99 || c > 21.01 {
		t.Fatalf("contrast(white, black) = %f, want 21", c)
	}
	for _, hex := range []string{"#ffffff", "#000000", "#ffd23f", "#1a5fb4", "#777777", "#00ff00", "#0a6e3c"} {
		t.Run(hex, func(t *testing.T) {
			rgb, ok := parseHex(hex)
			if !ok {
				t.Fatal("parse")
			}
			css := themeCSS(rgb)
			get := func(name string) [3]uint8 {
				i := strings.Index(css, name+": ")
				v, ok := parseHex(css[i+len(name)+2 : i+len(name)+9])
				if i < 0 || !ok {
					t.Fatalf("no %s in %s", name, css)
				}
				return v
			}
			if c := contrast(get("--brand"), get("--on-brand")); c < 4.5 {
				t.Errorf("text on the colour: %.2f:1", c)
			}
			if c := contrast(get("--brand-ink"), white); c < 4.5 {
				t.Errorf("the colour as text on white: %.2f:1", c)
			}
		})
	}
}

// TestPageLanguages: Accept-Language and ?lang= choose the catalogue, the
// page's lang attribute and its event stream follow, and amounts are
// written the language's way.
func TestPageLanguages(t *testing.T) {
	f := newFixture(t)
	inv := f.invoice(usdOrder)
	for _, c := range []struct {
		name, query, accept, lang, text string
	}{
		{"default", "", "", "en", English.Waiting},
		{"german browser", "", "de-AT,de;q=0.9", "de", "65,00 USD"},
		{"japanese override", "?lang=ja", "de", "ja", Japanese.Waiting},
		{"french", "", "fr-CA", "fr", French.OpenWallet},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.srv.URL+"/pay/"+inv.ID+c.query, nil)
			if c.accept != "" {
				req.Header.Set("Accept-Language", c.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			body := b.String()
			if !strings.Contains(body, `<html lang="`+c.lang+`">`) || !strings.Contains(body, c.text) ||
				!strings.Contains(body, `/events?lang=`+c.lang) || resp.Header.Get("Vary") != "Accept-Language" {
				t.Fatalf("page in %s lacks %q or its stream's language:\n%.600s", c.lang, c.text, body)
			}
		})
	}
}
