package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Audit actions. Features that add security-relevant actions (webhook
// endpoints, address blocks) record them with Service.Audit under names
// of the same "object.verb" form.
const (
	AuditKeyCreated       = "api_key.created"
	AuditKeyRotated       = "api_key.rotated"
	AuditKeyRevoked       = "api_key.revoked"
	AuditKeyNewIP         = "api_key.used_from_new_ip"
	AuditAuthFailed       = "auth.failed"
	AuditStoreCreated     = "store.created"
	AuditInvoiceRedacted  = "invoice.redacted"
	AuditEncryptionRotate = "encryption.rotated"

	AuditWebhookEndpointCreated = "webhook_endpoint.created"
	AuditWebhookEndpointUpdated = "webhook_endpoint.updated"
	AuditWebhookEndpointDeleted = "webhook_endpoint.deleted"
	AuditWebhookSecretRotated   = "webhook_endpoint.secret_rotated"
)

// PrefixAudit starts audit entry ids.
const PrefixAudit = storage.AuditIDPrefix

// OperatorActor is the actor name of the command line.
const OperatorActor = "operator"

// Actor is who asks for an action: an API key (KeyID), a dashboard user
// (User) or an operator at the command line (Operator), from which address, in which request. The
// HTTP layer and the command line put it in the context; audit entries
// take it from there.
type Actor struct {
	KeyID     string
	User      string // a dashboard user's id (usr_...)
	Operator  string
	IP        string
	RequestID string
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, or the zero Actor.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// Name is the actor as recorded: the key id, else the operator name,
// else "unknown".
func (a Actor) Name() string {
	switch {
	case a.KeyID != "":
		return a.KeyID
	case a.User != "":
		return a.User
	case a.Operator != "":
		return a.Operator
	}
	return "unknown"
}

// AuditRecord is one security-relevant action to record.
type AuditRecord struct {
	StoreID  string // "" for an action outside any store
	Livemode bool
	Action   string
	Target   string         // the id of the object acted on
	Details  map[string]any // encoded as a JSON object with sorted keys
}

// Audit appends r to the audit log inside tx, with the context's actor,
// so the entry commits or rolls back with the action it records. It
// fails only if the details cannot be encoded or the write fails; the
// caller's transaction must then fail too.
func (s *Service) Audit(ctx context.Context, tx storage.Tx, r AuditRecord) error {
	a := ActorFrom(ctx)
	e, err := storage.AuditRecord{StoreID: r.StoreID, Livemode: r.Livemode, Actor: a.Name(), Action: r.Action,
		Target: r.Target, SourceIP: a.IP, RequestID: a.RequestID, Details: r.Details}.Entry(s.Now())
	if err != nil {
		return err
	}
	if err := tx.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", r.Action, err)
	}
	return nil
}

// AuditQuery pages through a store's audit entries, newest first.
type AuditQuery struct {
	Action    string
	Limit     int
	BeforeSeq int64
	StoreID   string // operators only; API callers see their own store
	Livemode  bool   // operators only
}

// ListAuditEntries lists audit entries of the caller's store and mode
// (for an operator, nil caller, those of q.StoreID; "" is the entries
// outside any store).
func (s *Service) ListAuditEntries(ctx context.Context, caller *cryptopay.APIKey, q AuditQuery) ([]storage.AuditEntry, bool, error) {
	f := storage.AuditFilter{StoreID: q.StoreID, Livemode: q.Livemode, Action: q.Action, BeforeSeq: q.BeforeSeq}
	if caller != nil {
		f.StoreID, f.Livemode = caller.StoreID, caller.Livemode
	}
	if q.BeforeSeq < 0 {
		return nil, false, cryptopay.Invalid("before_seq", "before_seq must be positive.")
	}
	if err := validateText("action", q.Action, 64, false); err != nil {
		return nil, false, err
	}
	page, err := parsePage(q.Limit, "", "")
	if err != nil {
		return nil, false, err
	}
	f.Limit = page.Limit
	return s.db.ListAuditEntries(ctx, f)
}

// authAggWindow is the period authentication failures are summed over:
// one audit entry per (window, reason, address, store) rather than one
// per refused request, so a brute-force attempt cannot flood the log.
const authAggWindow = time.Minute

// maxAuthAggKeys bounds the addresses held between flushes; beyond it,
// failures are counted under the address "*".
const maxAuthAggKeys = 10000

type authAggKey struct {
	window   time.Time
	reason   AuthFailure
	ip       string
	storeID  string
	livemode bool
}

type authAggVal struct {
	count int64
	keys  map[string]struct{}
}

type authAgg struct {
	mu sync.Mutex
	m  map[authAggKey]*authAggVal
}

// noteAuthFailure counts a refused key for the next flush.
func (s *Service) noteAuthFailure(r AuthFailure, ip netip.Addr, k *cryptopay.APIKey, now time.Time) {
	key := authAggKey{window: now.Truncate(authAggWindow), reason: r}
	if ip.IsValid() {
		key.ip = ip.Unmap().String()
	}
	if k != nil {
		key.storeID, key.livemode = k.StoreID, k.Livemode
	}
	s.authAgg.mu.Lock()
	defer s.authAgg.mu.Unlock()
	if s.authAgg.m == nil {
		s.authAgg.m = map[authAggKey]*authAggVal{}
	}
	v := s.authAgg.m[key]
	if v == nil {
		if len(s.authAgg.m) >= maxAuthAggKeys {
			key.ip = "*"
			v = s.authAgg.m[key]
		}
		if v == nil {
			v = &authAggVal{keys: map[string]struct{}{}}
			s.authAgg.m[key] = v
		}
	}
	v.count++
	if k != nil && len(v.keys) < 10 {
		v.keys[k.ID] = struct{}{}
	}
}

// FlushAuthFailures writes one audit entry per (minute window, reason,
// address, store) of authentication failures whose window has ended, or
// of every window when all is set (at shutdown). It returns how many
// entries it wrote; failures it could not write stay for the next flush.
// serve calls it every few seconds.
func (s *Service) FlushAuthFailures(ctx context.Context, all bool) (int, error) {
	now := s.Now()
	s.authAgg.mu.Lock()
	var keys []authAggKey
	batch := map[authAggKey]*authAggVal{}
	for k, v := range s.authAgg.m {
		if all || !now.Before(k.window.Add(authAggWindow)) {
			keys = append(keys, k)
			batch[k] = v
			delete(s.authAgg.m, k)
		}
	}
	s.authAgg.mu.Unlock()
	if len(keys) == 0 {
		return 0, nil
	}
	sort.Slice(keys, func(i, j int) bool { // a stable order in the log
		a, b := keys[i], keys[j]
		if !a.window.Equal(b.window) {
			return a.window.Before(b.window)
		}
		if a.reason != b.reason {
			return a.reason < b.reason
		}
		return a.ip+a.storeID < b.ip+b.storeID
	})
	err := s.db.InTx(ctx, func(tx storage.Tx) error {
		for _, k := range keys {
			v := batch[k]
			ids := make([]string, 0, len(v.keys))
			for id := range v.keys {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			details := map[string]any{"reason": string(k.reason), "count": v.count,
				"window_start": k.window.UTC().Format(time.RFC3339), "window_seconds": int(authAggWindow.Seconds())}
			if len(ids) > 0 {
				details["key_ids"] = ids
			}
			actx := WithActor(ctx, Actor{Operator: "anonymous", IP: k.ip})
			if err := s.Audit(actx, tx, AuditRecord{StoreID: k.storeID, Livemode: k.livemode,
				Action: AuditAuthFailed, Target: k.ip, Details: details}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.authAgg.mu.Lock()
		for k, v := range batch { // keep them for the next flush
			if cur := s.authAgg.m[k]; cur != nil {
				cur.count += v.count
			} else {
				if s.authAgg.m == nil {
					s.authAgg.m = map[authAggKey]*authAggVal{}
				}
				s.authAgg.m[k] = v
			}
		}
		s.authAgg.mu.Unlock()
		return 0, err
	}
	return len(keys), nil
}
