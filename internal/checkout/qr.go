package checkout

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSVG renders content as a QR code in SVG: one square per module, dark
// modules drawn as a single path of horizontal runs, the quiet zone
// included. title names the image for assistive technology.
func qrSVG(content, title string) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("checkout: encoding QR code: %w", err)
	}
	bm := q.Bitmap()
	n := len(bm)
	var path strings.Builder
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="t" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<title id="t">%s</title>`, html.EscapeString(strings.Map(xmlChar, title)))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`, n, n)
	fmt.Fprintf(&b, `<path fill="#000" d="%s"/></svg>`, path.String())
	return []byte(b.String()), nil
}

// xmlChar drops what XML 1.0 cannot hold even escaped (control characters
// and invalid UTF-8), so the SVG stays well-formed whatever the title.
func xmlChar(r rune) rune {
	switch {
	case r == utf8.RuneError, r < 0x20 && r != '\t' && r != '\n' && r != '\r', r >= 0xFFFE && r <= 0xFFFF:
		return -1
	}
	return r
}
