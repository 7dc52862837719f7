package sqlite

import (
	"strings"
	"testing"
)

func TestConstraintName(t *testing.T) {
	tests := []struct {
		name, msg, want string
	}{
		{"order id", "constraint failed: UNIQUE constraint failed: invoices.store_id, invoices.order_id (2067)", "invoices_store_order_key"},
		{"address", "UNIQUE constraint failed: invoices.network, invoices.address", "invoices_network_address_key"},
		{"primary key", "constraint failed: UNIQUE constraint failed: stores.id (1555)", "stores_pkey"},
		{"api key hash", "constraint failed: UNIQUE constraint failed: api_keys.hash (2067)", "api_keys_hash_key"},
		{"unknown table", "constraint failed: UNIQUE constraint failed: bench_bare.id (1555)", "unknown"},
		{"columns in another order", "UNIQUE constraint failed: invoices.order_id, invoices.store_id", "unknown"},
		{"no column list", "constraint failed", "unknown"},
		{"empty", "", "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := constraintName(tc.msg); got != tc.want {
				t.Errorf("constraintName(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
}

// FuzzConstraintName checks the message parser only ever returns a
// declared constraint name or "unknown", whatever the message.
func FuzzConstraintName(f *testing.F) {
	f.Add("constraint failed: UNIQUE constraint failed: invoices.store_id, invoices.order_id (2067)")
	f.Add("failed: failed: (")
	f.Add("")
	names := map[string]bool{"unknown": true}
	for _, n := range constraints {
		names[n] = true
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got := constraintName(msg)
		if !names[got] {
			t.Fatalf("constraintName(%q) = %q, not a declared name", msg, got)
		}
		if got != "unknown" && !strings.Contains(msg, "failed: ") {
			t.Fatalf("constraintName(%q) = %q without a column list", msg, got)
		}
	})
}
