package gateway

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// testImage encodes a w×h picture with enc.
func testImage(t testing.TB, w, h int, enc func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encPNG(b *bytes.Buffer, m image.Image) error  { return png.Encode(b, m) }
func encJPEG(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) }
func encGIF(b *bytes.Buffer, m image.Image) error  { return gif.Encode(b, m, nil) }

func TestSniffLogo(t *testing.T) {
	pngLogo := testImage(t, 120, 40, encPNG)
	big := make([]byte, cryptopay.MaxLogoBytes+1)
	copy(big, pngLogo)
	cases := []struct {
		name, wantType, wantErr string
		b                       []byte
	}{
		{"png", "image/png", "", pngLogo},
		{"jpeg", "image/jpeg", "", testImage(t, 64, 64, encJPEG)},
		{"gif", "image/gif", "", testImage(t, 32, 32, encGIF)},
		{"empty", "", "empty", nil},
		{"too large", "", "limit", big},
		{"svg", "", "SVG", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)},
		{"svg behind an XML declaration and a BOM", "", "SVG", []byte("\xef\xbb\xbf  <?xml version=\"1.0\"?>\n<svg/>")},
		{"html", "", "PNG, JPEG or GIF", []byte("<!doctype html><script>alert(1)</script>")},
		{"truncated png", "", "not a readable", pngLogo[:len(pngLogo)/2]},
		{"png magic only", "", "not a readable", []byte("\x89PNG\r\n\x1a\n")},
		{"too small", "", "pixels", testImage(t, 8, 8, encPNG)},
		{"too wide", "", "pixels", testImage(t, 2049, 16, encPNG)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ, err := SniffLogo("logo", c.b)
			if c.wantErr == "" {
				if err != nil || typ != c.wantType {
					t.Fatalf("SniffLogo = %q, %v; want %q", typ, err, c.wantType)
				}
				return
			}
			e, ok := err.(*cryptopay.Error)
			if !ok || e.Code != cryptopay.CodeInvalid || e.Param != "logo" || !strings.Contains(e.Message, c.wantErr) {
				t.Fatalf("SniffLogo = %q, %v; want an invalid_request on logo saying %q", typ, err, c.wantErr)
			}
		})
	}
}

// FuzzSniffLogo: whatever the bytes, SniffLogo never panics, and what it
// accepts is one of the three image types and within the size limit.
func FuzzSniffLogo(f *testing.F) {
	f.Add(testImage(f, 20, 20, encPNG))
	f.Add(testImage(f, 20, 20, encGIF))
	f.Add([]byte("<svg/>"))
	f.Add([]byte("\xff\xd8\xff\xe0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, err := SniffLogo("logo", b)
		if err != nil {
			if cryptopay.ErrorCode(err) != cryptopay.CodeInvalid {
				t.Fatalf("error %v is not invalid_request", err)
			}
			return
		}
		if len(b) > cryptopay.MaxLogoBytes || (typ != "image/png" && typ != "image/jpeg" && typ != "image/gif") {
			t.Fatalf("accepted %d bytes as %q", len(b), typ)
		}
	})
}

func TestUpdateStoreSettings(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		svc := New(Config{DB: db, Outbox: eventsOnly{}})
		ctx := operatorCtx(t)
		st, err := svc.CreateStore(ctx, StoreParams{Name: "shop", Wallets: []WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub(t, 3)}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := svc.StoreSettings(ctx, st.ID)
		if err != nil || got.StoreID != st.ID || got.SupportURL+got.SupportEmail+got.BrandColor+got.ExplorerTxURL+got.LogoType != "" || got.Logo != nil {
			t.Fatalf("settings of a new store: %+v, %v; want empty defaults", got, err)
		}
		str := func(s string) *string { return &s }
		logo := testImage(t, 100, 30, encPNG)
		if _, err := svc.UpdateStoreSettings(ctx, st.ID, StoreSettingsParams{SupportURL: str("https://shop.example/help"),
			SupportEmail: str("help@shop.example"), BrandColor: str("#0A7F3F"), Logo: logo}); err != nil {
			t.Fatal(err)
		}
		// Each bad field is refused with its name and changes nothing.
		for _, c := range []struct {
			name, param string
			p           StoreSettingsParams
		}{
			{"colour name", "brand_color", StoreSettingsParams{BrandColor: str("red")}},
			{"javascript support URL", "support_url", StoreSettingsParams{SupportURL: str("javascript:alert(1)")}},
			{"email with a name", "support_email", StoreSettingsParams{SupportEmail: str("Shop <help@shop.example>")}},
			{"explorer without {txid}", "explorer_tx_url", StoreSettingsParams{ExplorerTxURL: str("https://mempool.space/tx/")}},
			{"explorer over http", "explorer_tx_url", StoreSettingsParams{ExplorerTxURL: str("http://mempool.space/tx/{txid}")}},
			{"svg logo", "logo", StoreSettingsParams{Logo: []byte("<svg/>")}},
			{"logo and removal", "logo", StoreSettingsParams{Logo: logo, RemoveLogo: true}},
			{"good colour, bad URL", "support_url", StoreSettingsParams{BrandColor: str("#000000"), SupportURL: str("ftp://x")}},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := svc.UpdateStoreSettings(ctx, st.ID, c.p)
				if e, ok := err.(*cryptopay.Error); !ok || e.Code != cryptopay.CodeInvalid || e.Param != c.param {
					t.Fatalf("got %v; want invalid_request naming %s", err, c.param)
				}
			})
		}
		got, err = svc.StoreSettings(ctx, st.ID)
		if err != nil || got.SupportURL != "https://shop.example/help" || got.SupportEmail != "help@shop.example" ||
			got.BrandColor != "#0a7f3f" || !bytes.Equal(got.Logo, logo) || got.LogoType != "image/png" {
			t.Fatalf("settings after the refusals: %+v, %v", got, err)
		}
		// Clearing one field and removing the logo leaves the rest.
		if _, err := svc.UpdateStoreSettings(ctx, st.ID, StoreSettingsParams{SupportURL: str(""), RemoveLogo: true}); err != nil {
			t.Fatal(err)
		}
		got, _ = svc.StoreSettings(ctx, st.ID)
		if got.SupportURL != "" || got.Logo != nil || got.LogoType != "" || got.SupportEmail != "help@shop.example" {
			t.Fatalf("after clearing: %+v", got)
		}
		if _, err := svc.StoreSettings(ctx, cryptopay.NewID(cryptopay.PrefixStore, svc.Now())); cryptopay.ErrorCode(err) != cryptopay.CodeNotFound {
			t.Fatalf("settings of an unknown store: %v, want not_found", err)
		}
	})
}
