package cli

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cryptopay/cryptopay"
)

// TestStoresSettingsCommand sets a store's checkout settings and logo from
// the command line, refuses bad values (changing nothing) and clears them.
func TestStoresSettingsCommand(t *testing.T) {
	e, env := loopbackEnv(t)
	st := withTestApp(t, env, func(a *app) *cryptopay.Store { return createRegtestStore(t, a) })
	dir := t.TempDir()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 64, 32))); err != nil {
		t.Fatal(err)
	}
	logo := filepath.Join(dir, "logo.png")
	svg := filepath.Join(dir, "logo.svg")
	_ = os.WriteFile(logo, b.Bytes(), 0o600)
	_ = os.WriteFile(svg, []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 0o600)

	out := e.must("stores", "settings", st.ID, "--support-url", "https://shop.example/help", "--support-email", "help@shop.example",
		"--color", "#0A7F3F", "--logo", logo)
	for _, want := range []string{"https://shop.example/help", "help@shop.example", "#0a7f3f", "image/png"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"svg logo", []string{"--logo", svg}, "SVG"},
		{"missing file", []string{"--logo", filepath.Join(dir, "nope.png")}, "cannot read"},
		{"bad colour", []string{"--color", "red"}, "brand_color"},
		{"bad explorer", []string{"--explorer-url", "https://x.example/tx"}, "explorer_tx_url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := e.run(append([]string{"stores", "settings", st.ID}, c.args...)...)
			if code == 0 || !strings.Contains(errs, c.want) {
				t.Fatalf("exit %d, stderr %q; want a failure mentioning %q", code, errs, c.want)
			}
		})
	}
	// Without flags it shows the settings, unchanged by the refusals.
	out = e.must("stores", "settings", st.ID)
	if !strings.Contains(out, "#0a7f3f") || !strings.Contains(out, "image/png") {
		t.Fatalf("settings after refusals:\n%s", out)
	}
	out = e.must("stores", "settings", st.ID, "--color", "", "--remove-logo")
	if !strings.Contains(out, "colour:         (default)") || !strings.Contains(out, "logo:           (none)") || !strings.Contains(out, "help@shop.example") {
		t.Fatalf("after clearing:\n%s", out)
	}
}
