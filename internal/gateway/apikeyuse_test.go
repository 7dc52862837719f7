package gateway

import (
	"net/netip"
	"testing"

	"github.com/cryptopay/cryptopay"
)

// TestKeyUseFromNewAddress: a key's use is audited when it comes from
// another address than its last use, however the address is written
// (an IPv4-mapped IPv6 address is the IPv4 one), and across a restart,
// where the last address is read back from the key's row.
func TestKeyUseFromNewAddress(t *testing.T) {
	db := engines()[0].open(t)
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk := &testClock{}
	svc := New(Config{DB: db, Outbox: eventsOnly{}, Now: clk.now})
	ctx := operatorCtx(t)
	st, err := svc.CreateStore(ctx, StoreParams{Name: "shop",
		Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: regtestVpub(t, 0)}}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:read"}})
	if err != nil {
		t.Fatal(err)
	}
	audited := func() int {
		t.Helper()
		es, _, err := svc.ListAuditEntries(t.Context(), nil, AuditQuery{StoreID: st.ID, Action: AuditKeyNewIP, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	for _, step := range []struct {
		name    string
		ip      string
		restart bool // a new service over the same database: nothing noted in memory
		new     bool
	}{
		{"first use", "192.0.2.1", false, true},
		{"same address", "192.0.2.1", false, false},
		{"same address, IPv4-mapped", "::ffff:192.0.2.1", false, false},
		{"another address", "2001:db8::1", false, true},
		{"the first again", "192.0.2.1", false, true},
		{"same address after a restart", "192.0.2.1", true, false},
		{"another address after a restart", "198.51.100.2", true, true},
		{"no address", "", false, true},
		{"no address again", "", false, false},
	} {
		if step.restart {
			svc = New(Config{DB: db, Outbox: eventsOnly{}, Now: clk.now})
		}
		var ip netip.Addr
		if step.ip != "" {
			ip = netip.MustParseAddr(step.ip)
		}
		before := audited()
		k, err := svc.Authenticate(t.Context(), ck.Secret, ip)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := audited() - before; got != map[bool]int{true: 1, false: 0}[step.new] {
			t.Errorf("%s: %d new-address entries, want new=%v", step.name, got, step.new)
		}
		if want := ip.Unmap(); k.LastUsedIP != addrText(want) && step.new {
			t.Errorf("%s: last used from %q, want %q", step.name, k.LastUsedIP, addrText(want))
		}
	}
	stored, err := db.GetAPIKey(t.Context(), ck.Key.ID)
	if err != nil || stored.LastUsedIP != "" {
		t.Errorf("stored last address %q, %v; want the last use's (none)", storedIP(stored), err)
	}
}

func storedIP(k *cryptopay.APIKey) string {
	if k == nil {
		return "<no key>"
	}
	return k.LastUsedIP
}
