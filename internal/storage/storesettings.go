package storage

import (
	"context"

	"github.com/cryptopay/cryptopay"
)

// StoreSettingsReader reads a store's checkout presentation.
type StoreSettingsReader interface {
	// GetStoreSettings returns the store's settings, or ErrNotFound when
	// the store never had any.
	GetStoreSettings(ctx context.Context, storeID string) (*cryptopay.StoreSettings, error)
}

// StoreSettingsTx writes a store's checkout presentation.
type StoreSettingsTx interface {
	// PutStoreSettings creates or replaces the store's settings, logo
	// included. An unknown store is ErrForeignKey.
	PutStoreSettings(ctx context.Context, s *cryptopay.StoreSettings) error
}
