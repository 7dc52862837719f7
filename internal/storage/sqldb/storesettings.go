package sqldb

import (
	"context"

	"github.com/cryptopay/cryptopay"
)

const storeSettingsCols = `store_id, support_url, support_email, brand_color, explorer_tx_url, logo, logo_type, updated_at`

// GetStoreSettings returns the store's settings or storage.ErrNotFound.
func (s *queries) GetStoreSettings(ctx context.Context, storeID string) (*cryptopay.StoreSettings, error) {
	var (
		st      cryptopay.StoreSettings
		updated int64
	)
	err := s.queryRow(ctx, `SELECT `+storeSettingsCols+` FROM store_settings WHERE store_id = ?`, storeID).Scan(
		&st.StoreID, &st.SupportURL, &st.SupportEmail, &st.BrandColor, &st.ExplorerTxURL, &st.Logo, &st.LogoType, &updated)
	if err != nil {
		return nil, s.wrap("get store settings", err)
	}
	if len(st.Logo) == 0 {
		st.Logo = nil // both engines may hand back an empty, non-nil slice
	}
	st.UpdatedAt = fromMicros(updated)
	return &st, nil
}

// PutStoreSettings upserts the store's row.
func (t *Tx) PutStoreSettings(ctx context.Context, st *cryptopay.StoreSettings) error {
	logo := st.Logo
	if logo == nil {
		logo = []byte{} // the column is NOT NULL: no logo is an empty one
	}
	_, err := t.exec(ctx, `INSERT INTO store_settings (`+storeSettingsCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (store_id) DO UPDATE SET support_url = excluded.support_url, support_email = excluded.support_email,
			brand_color = excluded.brand_color, explorer_tx_url = excluded.explorer_tx_url, logo = excluded.logo,
			logo_type = excluded.logo_type, updated_at = excluded.updated_at`,
		st.StoreID, st.SupportURL, st.SupportEmail, st.BrandColor, st.ExplorerTxURL, logo, st.LogoType, micros(st.UpdatedAt))
	return t.wrap("put store settings", err)
}
