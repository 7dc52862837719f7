package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		name     string
		ip       string
		loopback bool
		ok       bool
	}{
		{"public v4", "93.184.216.34", false, true},
		{"public v6", "2606:2800:220:1:248:1893:25c8:1946", false, true},
		{"loopback refused in live", "127.0.0.1", false, false},
		{"loopback range refused", "127.8.9.10", false, false},
		{"loopback allowed in test", "127.0.0.1", true, true},
		{"v6 loopback allowed in test", "::1", true, true},
		{"private still refused in test", "192.168.1.10", true, false},
		{"private 10/8", "10.0.0.1", false, false},
		{"private 172.16/12", "172.31.255.255", false, false},
		{"link-local", "169.254.1.1", false, false},
		{"AWS/GCP/Azure metadata", "169.254.169.254", false, false},
		{"AWS IPv6 metadata", "fd00:ec2::254", false, false},
		{"Alibaba metadata (shared space)", "100.100.100.200", false, false},
		{"unique-local", "fc00::1", false, false},
		{"v6 link-local", "fe80::1", false, false},
		{"multicast", "224.0.0.1", false, false},
		{"v6 multicast", "ff02::1", false, false},
		{"unspecified", "0.0.0.0", false, false},
		{"v6 unspecified", "::", false, false},
		{"broadcast", "255.255.255.255", false, false},
		{"v4-mapped loopback", "::ffff:127.0.0.1", false, false},
		{"v4-mapped private", "::ffff:10.1.2.3", false, false},
		{"NAT64 of metadata", "64:ff9b::a9fe:a9fe", false, false},
		{"NAT64 of loopback, even in test", "64:ff9b::7f00:1", true, false},
		{"NAT64 of a public address", "64:ff9b::5db8:d822", false, true},
		{"NAT64 local-use of loopback", "64:ff9b:1::7f00:1", false, false},
		{"NAT64 local-use, /48 embedding", "64:ff9b:1:7f00:1::", false, false},
		{"NAT64 local-use of a public address", "64:ff9b:1::5db8:d822", false, false},
		{"6to4 of private", "2002:c0a8:0101::1", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAddr(netip.MustParseAddr(tc.ip), tc.loopback)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckAddr(%s, loopback=%v) = %v, want ok=%v", tc.ip, tc.loopback, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("error %v does not wrap ErrForbiddenAddress", err)
			}
		})
	}
}

// fakeResolver answers from a table; a name listed in rebind answers its
// first entry once and the second ever after (a DNS rebinding attacker).
type fakeResolver struct {
	answers map[string][]string
	calls   atomic.Int32
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n := f.calls.Add(1)
	as, ok := f.answers[host]
	if !ok { // as net.Resolver reports it, naming the gateway's DNS server
		return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.53.0.2:53", IsNotFound: true}
	}
	if host == "rebind.example" {
		as = as[min(int(n)-1, 1):][:1]
	}
	var out []netip.Addr
	for _, a := range as {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// TestEndpointValidation: what a merchant sends when creating an endpoint
// is refused with a 400 naming the field.
func TestEndpointValidation(t *testing.T) {
	db := openSQLite(t)
	res := &fakeResolver{answers: map[string][]string{
		"shop.example":     {"93.184.216.34"},
		"internal.example": {"10.0.0.5"},
		"mixed.example":    {"93.184.216.34", "192.168.0.1"},
		"metadata.example": {"169.254.169.254"},
		"localhost":        {"127.0.0.1"},
	}}
	s, err := New(Config{DB: db, Keyring: testKeyring(t), Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	live := Owner{StoreID: createStore(t, db, true).ID, Livemode: true}
	test := Owner{StoreID: createStore(t, db, false).ID}
	tests := []struct {
		name   string
		owner  Owner
		p      EndpointParams
		param  string // "" = accepted
		inText string
	}{
		{"live https public", live, EndpointParams{URL: ptr("https://shop.example/hook")}, "", ""},
		{"missing url", live, EndpointParams{}, "url", "required"},
		{"not a url", live, EndpointParams{URL: ptr("shop.example/hook")}, "url", "absolute"},
		{"ftp scheme", live, EndpointParams{URL: ptr("ftp://shop.example/")}, "url", "scheme"},
		{"http in live mode", live, EndpointParams{URL: ptr("http://shop.example/hook")}, "url", "https"},
		{"private IP literal in live mode", live, EndpointParams{URL: ptr("https://10.1.2.3/hook")}, "url", "private"},
		{"name resolving to private in live mode", live, EndpointParams{URL: ptr("https://internal.example/")}, "url", "private"},
		{"one private address among public ones", live, EndpointParams{URL: ptr("https://mixed.example/")}, "url", "private"},
		{"cloud metadata", live, EndpointParams{URL: ptr("https://metadata.example/")}, "url", "link-local"},
		{"localhost in live mode", live, EndpointParams{URL: ptr("https://localhost/")}, "url", "loopback"},
		{"credentials in url", live, EndpointParams{URL: ptr("https://u:p@shop.example/")}, "url", "credentials"},
		{"unresolvable host", live, EndpointParams{URL: ptr("https://nowhere.example/")}, "url", "host nowhere.example does not resolve"},
		{"unresolvable host in test mode", test, EndpointParams{URL: ptr("http://nowhere.example/")}, "url", "does not resolve"},
		{"unknown event type", live, EndpointParams{URL: ptr("https://shop.example/"), EventTypes: &[]string{"invoice.settled", "invoice.teleported"}}, "enabled_events", "invoice.teleported"},
		{"test event type not subscribable", live, EndpointParams{URL: ptr("https://shop.example/"), EventTypes: &[]string{"test"}}, "enabled_events", "test"},
		{"test mode localhost, not allowed by the operator", test, EndpointParams{URL: ptr("http://localhost:8080/hook")}, "url", "loopback"},
		{"test mode 127.0.0.1, not allowed by the operator", test, EndpointParams{URL: ptr("http://127.0.0.1:6379/")}, "url", "loopback"},
		{"test mode private still refused", test, EndpointParams{URL: ptr("http://10.0.0.1/")}, "url", "private"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep, secret, err := s.CreateEndpoint(t.Context(), tc.owner, tc.p)
			if tc.param == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !strings.HasPrefix(secret, "whsec_") || ep.Secret == secret {
					t.Fatalf("secret %q stored as %q", secret, ep.Secret)
				}
				return
			}
			e, ok := errors.AsType[*cryptopay.Error](err)
			if !ok || e.Code != cryptopay.CodeInvalid || e.Param != tc.param || !strings.Contains(e.Message, tc.inText) {
				t.Fatalf("err = %v, want invalid_request on %q mentioning %q", err, tc.param, tc.inText)
			}
			if strings.Contains(e.Message, "10.53.0.2") || strings.Contains(e.Message, ":53") {
				t.Fatalf("message %q names the gateway's DNS server", e.Message)
			}
		})
	}
}

// TestLoopbackNeedsOperatorOptIn: test-mode endpoints reach loopback only
// when the operator allows it (the dev sandbox does); live endpoints never
// do, and other private addresses stay refused either way.
func TestLoopbackNeedsOperatorOptIn(t *testing.T) {
	db := openSQLite(t)
	res := &fakeResolver{answers: map[string][]string{"localhost": {"127.0.0.1"}, "internal.example": {"10.0.0.5"}}}
	live := Owner{StoreID: createStore(t, db, true).ID, Livemode: true}
	test := Owner{StoreID: createStore(t, db, false).ID}
	for _, tc := range []struct {
		name  string
		allow bool
		owner Owner
		url   string
		ok    bool
	}{
		{"test mode, default", false, test, "http://localhost:8080/", false},
		{"test mode, default, v6 literal", false, test, "http://[::1]:8080/", false},
		{"test mode, allowed", true, test, "http://localhost:8080/", true},
		{"test mode, allowed, v6 literal", true, test, "http://[::1]:8080/", true},
		{"test mode, allowed, private still refused", true, test, "http://internal.example/", false},
		{"live mode, allowed, still refused", true, live, "https://localhost/", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{DB: db, Keyring: testKeyring(t), Resolver: res, AllowLoopback: tc.allow})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.CreateEndpoint(t.Context(), tc.owner, EndpointParams{URL: ptr(tc.url)})
			if (err == nil) != tc.ok {
				t.Fatalf("CreateEndpoint(%s) = %v, want ok %v", tc.url, err, tc.ok)
			}
		})
	}
}

// TestDeliveryRefusesRebinding: a name that resolved to a public address
// when the endpoint was made but resolves to loopback at delivery time is
// never connected to; the attempt records the refusal.
func TestDeliveryRefusesRebinding(t *testing.T) {
	db := openSQLite(t)
	rec := newRecorder(t, nil) // on loopback: must never be reached
	res := &fakeResolver{answers: map[string][]string{"rebind.example": {"93.184.216.34", "127.0.0.1"}}}
	s := newService(t, db, func(c *Config) { c.Resolver = res })
	st := createStore(t, db, true)
	o := Owner{StoreID: st.ID, Livemode: true}
	port := rec.srv.URL[strings.LastIndex(rec.srv.URL, ":"):]
	ep, _, err := s.CreateEndpoint(t.Context(), o, EndpointParams{URL: ptr("https://rebind.example" + port + "/")})
	if err != nil {
		t.Fatal(err)
	}
	writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`)
	var d cryptopay.WebhookDelivery
	eventually(t, 20*time.Second, "a recorded attempt", func() bool {
		ds, _, err := s.ListDeliveries(t.Context(), o, ep.ID, "", storage.Page{})
		if err != nil || len(ds) != 1 || ds[0].Attempts == 0 {
			return false
		}
		full, err := s.GetDelivery(t.Context(), o, ds[0].ID)
		d = *full
		return err == nil
	})
	if !strings.Contains(d.Attempt[0].Error, "loopback") || len(rec.all()) != 0 {
		t.Fatalf("attempt %+v; receiver saw %d requests", d.Attempt[0], len(rec.all()))
	}
}
