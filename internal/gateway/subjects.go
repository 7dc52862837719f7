package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/shred"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// Erasure by crypto-shredding (the guide's "Right to Deletion"). With a
// subject key vault configured, an invoice's customer_reference and its
// personal metadata values are sealed with the key of their data subject
// (the store's customer_reference) before they are written; the database's
// own sealing then wraps them again. EraseCustomer destroys the subject's
// key: every copy of those fields, in the database and in every backup of
// it, stays ciphertext for good, while amounts, addresses, txids, events
// and the audit log stay for the books. Reads show an erased field as
// empty.
//
// Personal metadata are the keys the data-minimisation rule names as
// personal (pii.go: "email", "customer_name", ...; a store with allow_pii
// accepts them) and any key starting with "personal_", the shop's way to
// mark a value personal. An invoice without a customer_reference has no
// subject; its fields are sealed by the database's keyring only.

// Vault is the subject key store (internal/shred's *Vault).
type Vault interface {
	Subject(storeID, ref string) string
	Key(ctx context.Context, storeID, ref string, create bool) (string, []byte, error)
	KeyByID(ctx context.Context, id string) ([]byte, error)
	Destroy(ctx context.Context, storeID, ref string) (string, bool, error)
}

type complianceDeps struct {
	vault  Vault
	notify Notifier
}

// SetVault turns crypto-shredding on for invoices created from now on.
func (s *Service) SetVault(v Vault) { s.compliance.vault = v }

// personalMetadataKey reports whether a metadata key holds personal data.
func personalMetadataKey(k string) bool {
	return strings.HasPrefix(k, "personal_") || personalKey(k)
}

func subjectAAD(invoiceID, field string) []byte {
	return []byte("cryptopay:subject:" + invoiceID + ":" + field)
}

// sealSubject replaces inv's customer reference and personal metadata
// with envelopes under the subject's key and returns the subject's keyed
// hash ("" without a vault or a reference).
func (s *Service) sealSubject(ctx context.Context, inv *cryptopay.Invoice) (string, error) {
	v := s.compliance.vault
	if v == nil || inv.CustomerReference == "" {
		return "", nil
	}
	id, key, err := v.Key(ctx, inv.StoreID, inv.CustomerReference, true)
	if err != nil {
		return "", fmt.Errorf("subject key: %w", err)
	}
	subject := v.Subject(inv.StoreID, inv.CustomerReference)
	ref, err := shred.Seal(id, key, []byte(inv.CustomerReference), subjectAAD(inv.ID, "customer_reference"))
	if err != nil {
		return "", err
	}
	var meta map[string]string
	if inv.Metadata != nil {
		meta = maps.Clone(inv.Metadata)
		for k, val := range meta {
			if personalMetadataKey(k) {
				if meta[k], err = shred.Seal(id, key, []byte(val), subjectAAD(inv.ID, "metadata:"+k)); err != nil {
					return "", err
				}
			}
		}
	}
	inv.CustomerReference, inv.Metadata = ref, meta
	return subject, nil
}

// openSubjects opens the envelopes of invs in place. An erased subject's
// fields read as empty (a personal metadata key is dropped).
func (s *Service) openSubjects(ctx context.Context, invs ...*cryptopay.Invoice) error {
	keys := map[string][]byte{}
	open := func(inv *cryptopay.Invoice, field, v string) (string, bool, error) {
		id, ok := shred.SubjectOf(v)
		if !ok {
			return v, true, nil
		}
		key, seen := keys[id]
		if !seen {
			if s.compliance.vault == nil {
				return "", false, errors.New("gateway: an invoice's personal fields are sealed with a subject key, but no subject key vault is configured (CRYPTOPAY_SUBJECT_VAULT)")
			}
			var err error
			key, err = s.compliance.vault.KeyByID(ctx, id)
			if err != nil && !errors.Is(err, shred.ErrErased) {
				return "", false, err
			}
			keys[id] = key
		}
		if key == nil {
			return "", false, nil // erased
		}
		pt, err := shred.OpenEnvelope(v, key, subjectAAD(inv.ID, field))
		if err != nil {
			return "", false, fmt.Errorf("invoice %s %s: %w", inv.ID, field, err)
		}
		return string(pt), true, nil
	}
	for _, inv := range invs {
		ref, _, err := open(inv, "customer_reference", inv.CustomerReference)
		if err != nil {
			return err
		}
		inv.CustomerReference = ref
		for k, v := range inv.Metadata {
			pt, ok, err := open(inv, "metadata:"+k, v)
			if err != nil {
				return err
			}
			if ok {
				inv.Metadata[k] = pt
			} else {
				delete(inv.Metadata, k)
			}
		}
	}
	return nil
}

// customerRef validates a customer reference given in a path.
func (s *Service) customerVault(ref string) (Vault, error) {
	if err := validateText("customer_reference", ref, maxReferenceLen, true); err != nil {
		return nil, err
	}
	if s.compliance.vault == nil {
		return nil, cryptopay.Errorf(cryptopay.CodeUnavailable, "Erasure and export need a subject key vault; set CRYPTOPAY_SUBJECT_VAULT.")
	}
	return s.compliance.vault, nil
}

// Erasure is what EraseCustomer did.
type Erasure struct {
	CustomerReference string    `json:"customer_reference"`
	Subject           string    `json:"subject_id"`
	Invoices          int64     `json:"invoices"`
	AlreadyErased     bool      `json:"already_erased"`
	ErasedAt          time.Time `json:"erased_at"`
}

// EraseCustomer destroys the subject key of storeID's customer ref and
// forgets the subject's index entries, recording the erasure in the audit
// log. Erasing again succeeds and reports AlreadyErased; a reference the
// store never used is not found.
func (s *Service) EraseCustomer(ctx context.Context, storeID string, livemode bool, ref string) (*Erasure, error) {
	v, err := s.customerVault(ref)
	if err != nil {
		return nil, err
	}
	subject := v.Subject(storeID, ref)
	id, already, err := v.Destroy(ctx, storeID, ref)
	if errors.Is(err, shred.ErrNoSubject) {
		return nil, cryptopay.Errorf(cryptopay.CodeNotFound, "No data is held for this customer_reference.")
	}
	if err != nil {
		return nil, err
	}
	out := &Erasure{CustomerReference: ref, Subject: id, AlreadyErased: already, ErasedAt: s.Now()}
	// The key is gone before the index is: a failure here leaves only
	// links to ciphertext nobody can open, and a retry finishes the job.
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		n, err := tx.ForgetSubject(ctx, subject)
		if err != nil {
			return err
		}
		out.Invoices = n
		return s.Audit(ctx, tx, AuditRecord{StoreID: storeID, Livemode: livemode, Action: AuditCustomerErased,
			Target: id, Details: map[string]any{"invoices": n, "already_erased": already,
				"fields": []string{"customer_reference", "personal metadata"}}})
	})
	if err != nil {
		return nil, fmt.Errorf("erase customer: %w", err)
	}
	return out, nil
}

// CustomerExport is everything the gateway holds about one customer
// reference of one store.
type CustomerExport struct {
	CustomerReference string              `json:"customer_reference"`
	StoreID           string              `json:"store_id"`
	Subject           string              `json:"subject_id"`
	Erased            bool                `json:"erased"`
	ExportedAt        time.Time           `json:"exported_at"`
	Invoices          []cryptopay.Invoice `json:"-"`
	Reviews           []storage.Review    `json:"-"`
}

// ExportCustomer returns every invoice (with payments and metadata) and
// review held for storeID's customer ref, and records the export in the
// audit log. An erased subject exports as erased, with nothing else.
func (s *Service) ExportCustomer(ctx context.Context, storeID string, livemode bool, ref string) (*CustomerExport, error) {
	v, err := s.customerVault(ref)
	if err != nil {
		return nil, err
	}
	out := &CustomerExport{CustomerReference: ref, StoreID: storeID, ExportedAt: s.Now()}
	id, _, err := v.Key(ctx, storeID, ref, false)
	switch {
	case errors.Is(err, shred.ErrNoSubject):
		return nil, cryptopay.Errorf(cryptopay.CodeNotFound, "No data is held for this customer_reference.")
	case errors.Is(err, shred.ErrErased):
		out.Subject, out.Erased = id, true
	case err != nil:
		return nil, err
	default:
		out.Subject = id
		ids, err := s.db.ListSubjectInvoices(ctx, v.Subject(storeID, ref))
		if err != nil {
			return nil, err
		}
		reviews, _, err := s.db.ListReviews(ctx, storage.ReviewFilter{StoreID: storeID, Livemode: &livemode, Page: storage.Page{Limit: 1 << 20}})
		if err != nil {
			return nil, err
		}
		for _, iid := range ids {
			inv, err := s.db.GetInvoice(ctx, iid)
			if err != nil {
				return nil, err
			}
			if inv.StoreID != storeID || inv.Livemode != livemode {
				continue
			}
			if err := s.openSubjects(ctx, inv); err != nil {
				return nil, err
			}
			out.Invoices = append(out.Invoices, *inv)
			for _, r := range reviews {
				if r.InvoiceID == inv.ID {
					out.Reviews = append(out.Reviews, r)
				}
			}
		}
	}
	err = s.db.InTx(ctx, func(tx storage.Tx) error {
		return s.Audit(ctx, tx, AuditRecord{StoreID: storeID, Livemode: livemode, Action: AuditCustomerExported,
			Target: out.Subject, Details: map[string]any{"invoices": len(out.Invoices), "erased": out.Erased}})
	})
	if err != nil {
		return nil, fmt.Errorf("export customer: %w", err)
	}
	return out, nil
}
