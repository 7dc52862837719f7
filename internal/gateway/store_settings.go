package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// AuditStoreSettingsUpdated records a change of a store's checkout
// presentation (contact, colour, explorer, logo).
const AuditStoreSettingsUpdated = "store.settings_updated"

// StoreSettingsParams changes a store's checkout settings. A nil field is
// left as it is; a pointer to "" clears it. Logo is the raw image file
// (PNG, JPEG or GIF); RemoveLogo drops the current one.
type StoreSettingsParams struct {
	SupportURL    *string
	SupportEmail  *string
	BrandColor    *string
	ExplorerTxURL *string
	Logo          []byte
	RemoveLogo    bool
}

// StoreSettings returns the store's checkout settings; a store that never
// set any gets empty ones (the defaults). An unknown store is a not-found
// error.
func (s *Service) StoreSettings(ctx context.Context, storeID string) (*cryptopay.StoreSettings, error) {
	if !cryptopay.ValidID(cryptopay.PrefixStore, storeID) {
		return nil, cryptopay.Invalid("store", "%q is not a store id.", storeID)
	}
	st, err := s.db.GetStoreSettings(ctx, storeID)
	if errors.Is(err, storage.ErrNotFound) {
		if _, err := s.GetStore(ctx, storeID); err != nil {
			return nil, err
		}
		return &cryptopay.StoreSettings{StoreID: storeID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store settings: %w", err)
	}
	return st, nil
}

// UpdateStoreSettings validates p and applies it to the store's settings,
// with an audit entry, in one transaction. Bad input is a CodeInvalid
// error naming the field and changes nothing.
func (s *Service) UpdateStoreSettings(ctx context.Context, storeID string, p StoreSettingsParams) (*cryptopay.StoreSettings, error) {
	store, err := s.GetStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	if p.RemoveLogo && p.Logo != nil {
		return nil, cryptopay.Invalid("logo", "give a new logo or remove the logo, not both.")
	}
	var logoType string
	if p.Logo != nil {
		if logoType, err = SniffLogo("logo", p.Logo); err != nil {
			return nil, err
		}
	}
	// Validate every field before reading or writing anything.
	set := map[string]string{}
	check := func(param string, v *string, parse func(string, string) (string, error)) error {
		if v == nil {
			return nil
		}
		out, err := parse(param, *v)
		set[param] = out
		return err
	}
	if err := errors.Join(
		check("support_url", p.SupportURL, func(param, v string) (string, error) {
			return cryptopay.ParseSupportURL(param, v, store.Livemode)
		}),
		check("support_email", p.SupportEmail, cryptopay.ParseSupportEmail),
		check("brand_color", p.BrandColor, cryptopay.ParseBrandColor),
		check("explorer_tx_url", p.ExplorerTxURL, cryptopay.ParseExplorerTxURL),
	); err != nil {
		return nil, firstClientError(err)
	}

	var out *cryptopay.StoreSettings
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		cur, err := tx.GetStoreSettings(ctx, storeID)
		if errors.Is(err, storage.ErrNotFound) {
			cur, err = &cryptopay.StoreSettings{StoreID: storeID}, nil
		}
		if err != nil {
			return err
		}
		changed := []string{}
		apply := func(param string, field *string) {
			if v, ok := set[param]; ok && v != *field {
				*field = v
				changed = append(changed, param)
			}
		}
		apply("support_url", &cur.SupportURL)
		apply("support_email", &cur.SupportEmail)
		apply("brand_color", &cur.BrandColor)
		apply("explorer_tx_url", &cur.ExplorerTxURL)
		switch {
		case p.Logo != nil:
			cur.Logo, cur.LogoType = p.Logo, logoType
			changed = append(changed, "logo")
		case p.RemoveLogo && cur.Logo != nil:
			cur.Logo, cur.LogoType = nil, ""
			changed = append(changed, "logo")
		}
		cur.UpdatedAt = s.Now()
		if err := tx.PutStoreSettings(ctx, cur); err != nil {
			return err
		}
		out = cur
		return s.Audit(ctx, tx, AuditRecord{StoreID: storeID, Livemode: store.Livemode, Action: AuditStoreSettingsUpdated,
			Target: storeID, Details: map[string]any{"changed": changed}})
	})
	if err != nil {
		return nil, fmt.Errorf("update store settings: %w", err)
	}
	return out, nil
}

// firstClientError returns the first *cryptopay.Error of a joined error,
// so a client is told about one field at a time, clearly.
func firstClientError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if e != nil {
				return e
			}
		}
	}
	return err
}

// Logo limits: big enough for a crisp header image, small enough that a
// crafted file cannot make the gateway decode a huge bitmap.
const (
	maxLogoSide = 2048
	minLogoSide = 16
)

// SniffLogo checks that b is a PNG, JPEG or GIF image the checkout can
// serve and returns its media type. The type is read from the bytes,
// never from a file name; the whole image is decoded, so a truncated or
// corrupt file is refused. SVG is refused outright: it is a document that
// can carry script and external references, not a picture. Errors are
// CodeInvalid errors naming param.
func SniffLogo(param string, b []byte) (string, error) {
	if len(b) == 0 {
		return "", cryptopay.Invalid(param, "the logo file is empty.")
	}
	if len(b) > cryptopay.MaxLogoBytes {
		return "", cryptopay.Invalid(param, "the logo is %d bytes; the limit is %d (256 KiB).", len(b), cryptopay.MaxLogoBytes)
	}
	var (
		typ    string
		decode func([]byte) error
	)
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		typ, decode = "image/png", func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err }
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		typ, decode = "image/jpeg", func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		typ, decode = "image/gif", func(b []byte) error { _, err := gif.Decode(bytes.NewReader(b)); return err }
	case looksLikeSVG(b):
		return "", cryptopay.Invalid(param, "SVG logos are refused: an SVG file can carry scripts and links. Export the logo as PNG.")
	default:
		return "", cryptopay.Invalid(param, "the logo must be a PNG, JPEG or GIF image.")
	}
	var cfg image.Config
	var err error
	switch typ {
	case "image/png":
		cfg, err = png.DecodeConfig(bytes.NewReader(b))
	case "image/jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
	default:
		cfg, err = gif.DecodeConfig(bytes.NewReader(b))
	}
	if err != nil {
		return "", cryptopay.Invalid(param, "the logo is not a readable %s image.", typ)
	}
	if cfg.Width < minLogoSide || cfg.Height < minLogoSide || cfg.Width > maxLogoSide || cfg.Height > maxLogoSide {
		return "", cryptopay.Invalid(param, "the logo is %d×%d pixels; each side must be from %d to %d.", cfg.Width, cfg.Height, minLogoSide, maxLogoSide)
	}
	if err := decode(b); err != nil {
		return "", cryptopay.Invalid(param, "the logo is not a readable %s image.", typ)
	}
	return typ, nil
}

// looksLikeSVG reports whether b starts (after white space and a byte
// order mark) like an XML or SVG document.
func looksLikeSVG(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) > 512 {
		b = b[:512]
	}
	lower := bytes.ToLower(b)
	return bytes.HasPrefix(lower, []byte("<?xml")) || bytes.HasPrefix(lower, []byte("<svg")) ||
		bytes.HasPrefix(lower, []byte("<!doctype svg")) || bytes.Contains(lower, []byte("<svg"))
}
