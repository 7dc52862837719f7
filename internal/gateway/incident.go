package gateway

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Incident response (the guide's "Security Incident Plan": containment).
// An operator can freeze the gateway (no new live invoices; checkout
// pages say the service is temporarily unavailable; chain watching,
// crediting and webhook deliveries go on, so money already on its way is
// still recorded and announced), revoke every API key, and rotate every
// webhook secret. Each action is audited, alerted to the emergency
// contacts, and stays "in force" (doctor lists it) until unfreeze closes
// the incident.

// Incident actions.
const (
	IncidentFreeze = "freeze"
	IncidentRevoke = "revoke_keys"
	IncidentRotate = "rotate_webhook_secrets"
)

// PrefixIncident starts incident action ids.
const PrefixIncident = "inc"

// refuseIfFrozen refuses a live invoice while a freeze is in force. It
// reads in the creating transaction, so no invoice commits after the
// freeze did.
func refuseIfFrozen(ctx context.Context, tx storage.Tx, live bool) error {
	if !live {
		return nil
	}
	acts, err := tx.ListOpenIncidentActions(ctx)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(acts, func(a storage.IncidentAction) bool { return a.Action == IncidentFreeze }) {
		return cryptopay.Errorf(cryptopay.CodeFrozen, "Payments are temporarily unavailable: the gateway is frozen by its operator. Retry later.")
	}
	return nil
}

// Frozen reports whether a freeze is in force.
func (s *Service) Frozen(ctx context.Context) (bool, error) {
	acts, err := s.db.ListOpenIncidentActions(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(acts, func(a storage.IncidentAction) bool { return a.Action == IncidentFreeze }), nil
}

// IncidentActions returns the incident actions in force, oldest first.
func (s *Service) IncidentActions(ctx context.Context) ([]storage.IncidentAction, error) {
	return s.db.ListOpenIncidentActions(ctx)
}

// recordIncident writes an incident action and its audit entry in tx.
func (s *Service) recordIncident(ctx context.Context, tx storage.Tx, action, audit string, details map[string]any) (*storage.IncidentAction, error) {
	now := s.Now()
	a := &storage.IncidentAction{ID: cryptopay.NewID(PrefixIncident, now), Action: action,
		Actor: ActorFrom(ctx).Name(), Details: details, CreatedAt: now}
	if err := tx.CreateIncidentAction(ctx, a); err != nil {
		return nil, err
	}
	return a, s.Audit(ctx, tx, AuditRecord{Action: audit, Target: a.ID, Details: details})
}

// Freeze stops new live invoices until Unfreeze. Freezing a frozen
// gateway changes nothing and returns the freeze in force.
func (s *Service) Freeze(ctx context.Context, reason string) (*storage.IncidentAction, error) {
	if err := validateText("reason", reason, 500, false); err != nil {
		return nil, err
	}
	var out *storage.IncidentAction
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		acts, err := tx.ListOpenIncidentActions(ctx)
		if err != nil {
			return err
		}
		for _, a := range acts {
			if a.Action == IncidentFreeze {
				out = &a
				return nil
			}
		}
		out, err = s.recordIncident(ctx, tx, IncidentFreeze, AuditIncidentFreeze, map[string]any{"reason": reason})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("freeze: %w", err)
	}
	s.notify(ctx, "critical", "Incident: gateway frozen",
		fmt.Sprintf("No new live invoices are accepted until `cryptopay incident unfreeze`. Chain watching and webhooks continue. Reason: %s", cmp.Or(reason, "none given")))
	return out, nil
}

// Unfreeze lifts the freeze and closes every incident action in force.
// It returns how many it closed (0: nothing was in force).
func (s *Service) Unfreeze(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		var err error
		if n, err = tx.CloseIncidentActions(ctx, s.Now()); err != nil || n == 0 {
			return err
		}
		return s.Audit(ctx, tx, AuditRecord{Action: AuditIncidentUnfreeze, Details: map[string]any{"closed_actions": n}})
	})
	if err != nil {
		return 0, fmt.Errorf("unfreeze: %w", err)
	}
	if n > 0 {
		s.notify(ctx, "warning", "Incident closed: gateway unfrozen", fmt.Sprintf("%d incident action(s) closed; live invoices are accepted again.", n))
	}
	return n, nil
}

// RevokeAllKeys revokes every API key not yet revoked, of one store or
// (storeID "") of every store, in one transaction, and returns them.
func (s *Service) RevokeAllKeys(ctx context.Context, storeID string) ([]cryptopay.APIKey, error) {
	var stores []cryptopay.Store
	if storeID != "" {
		st, err := s.GetStore(ctx, storeID)
		if err != nil {
			return nil, err
		}
		stores = []cryptopay.Store{*st}
	} else {
		var err error
		if stores, err = s.db.ListStores(ctx); err != nil {
			return nil, err
		}
	}
	var revoked []cryptopay.APIKey
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		revoked = revoked[:0]
		now := s.Now()
		for _, st := range stores {
			keys, err := tx.ListAPIKeys(ctx, st.ID)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if k.RevokedAt != nil && !now.Before(*k.RevokedAt) {
					continue
				}
				k.RevokedAt = &now
				if err := tx.UpdateAPIKey(ctx, &k); err != nil {
					return err
				}
				if err := s.Audit(ctx, tx, AuditRecord{StoreID: k.StoreID, Livemode: k.Livemode, Action: AuditKeyRevoked,
					Target: k.ID, Details: map[string]any{"incident": true}}); err != nil {
					return err
				}
				revoked = append(revoked, k)
			}
		}
		ids := make([]string, len(revoked))
		for i, k := range revoked {
			ids[i] = k.ID
		}
		_, err := s.recordIncident(ctx, tx, IncidentRevoke, AuditIncidentRevoke, map[string]any{"store": storeID, "keys": ids})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke keys: %w", err)
	}
	s.notify(ctx, "critical", "Incident: API keys revoked", fmt.Sprintf("%d API key(s) revoked (store %s).", len(revoked), cmp.Or(storeID, "all")))
	return revoked, nil
}

// RecordSecretRotation records an incident rotation of webhook secrets
// (the rotation itself is the webhook service's).
func (s *Service) RecordSecretRotation(ctx context.Context, endpoints []string, overlap string) error {
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		_, err := s.recordIncident(ctx, tx, IncidentRotate, AuditIncidentRotate, map[string]any{"endpoints": endpoints, "overlap": overlap})
		return err
	})
	if err != nil {
		return fmt.Errorf("record rotation: %w", err)
	}
	s.notify(ctx, "critical", "Incident: webhook secrets rotated", fmt.Sprintf("%d webhook endpoint secret(s) rotated; old secrets overlap: %s.", len(endpoints), overlap))
	return nil
}
