package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay/internal/storage"
)

// SettingsCacheTTL bounds how long a store's compliance settings (its
// limits), read on every invoice creation to learn whether limits apply,
// are reused without reading them again. Most stores have none, and the
// settings change only through SetCompliance, so one read a second
// instead of one an invoice spares the database a round trip per invoice.
//
// It is also the bound on how late a change made elsewhere (another
// gateway instance on the same PostgreSQL database, or `cryptopay
// compliance set` beside a running SQLite gateway) takes effect here: a
// limit set there is enforced on this instance's new invoices at most
// SettingsCacheTTL after it committed. On the instance that made the
// change it applies at once (the cache is cleared when its transaction
// commits). The limits themselves are always checked against the row
// locked in the creating transaction (checkLimits); the cache only
// decides whether there are limits to check.
const SettingsCacheTTL = time.Second

type settingsCache struct {
	mu sync.Mutex
	m  map[string]cachedSettings // by store id
	// gen counts clears: a read that began before a clear must not store
	// what it read.
	gen uint64
}

type cachedSettings struct {
	c  *storage.ComplianceSettings // nil: the store has none
	at time.Time                   // when read, on the monotonic clock
}

// complianceSettings returns the store's compliance settings, nil when it
// has none, from the cache when read less than SettingsCacheTTL ago.
// Callers must not modify the result.
func (s *Service) complianceSettings(ctx context.Context, storeID string) (*storage.ComplianceSettings, error) {
	now := time.Now()
	s.settings.mu.Lock()
	e, ok := s.settings.m[storeID]
	gen := s.settings.gen
	s.settings.mu.Unlock()
	if ok && now.Sub(e.at) < SettingsCacheTTL {
		return e.c, nil
	}
	c, err := s.db.GetComplianceSettings(ctx, storeID)
	if errors.Is(err, storage.ErrNotFound) {
		c, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.settings.mu.Lock()
	if s.settings.gen == gen {
		if s.settings.m == nil {
			s.settings.m = map[string]cachedSettings{}
		}
		s.settings.m[storeID] = cachedSettings{c: c, at: now}
	}
	s.settings.mu.Unlock()
	return c, nil
}

// forgetSettings clears the cache after this instance changed a store's
// settings, so the change applies to its very next invoice.
func (s *Service) forgetSettings() {
	s.settings.mu.Lock()
	clear(s.settings.m)
	s.settings.gen++
	s.settings.mu.Unlock()
}
