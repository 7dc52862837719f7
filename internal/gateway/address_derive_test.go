package gateway

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/account"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// regtestShop creates a store with a regtest wallet of accountKey on svc
// and returns its id and an API key that creates its invoices.
func regtestShop(t testing.TB, svc *Service, accountKey string) (storeID string, key *cryptopay.APIKey) {
	t.Helper()
	ctx := WithActor(t.Context(), Actor{Operator: OperatorActor})
	st, err := svc.CreateStore(ctx, StoreParams{Name: "shop",
		Wallets: []WalletParams{{Network: string(cryptopay.NetworkBitcoinRegtest), AccountKey: accountKey}}})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := svc.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	return st.ID, ck.Key
}

// deriveOrderSeq numbers the order ids of the tests in this file.
var deriveOrderSeq atomic.Int64

func createRegtestInvoice(t testing.TB, svc *Service, key *cryptopay.APIKey) (*cryptopay.Invoice, error) {
	return svc.CreateInvoice(t.Context(), key, InvoiceParams{
		OrderID: fmt.Sprintf("derive-%d", deriveOrderSeq.Add(1)), Amount: "0.001", Currency: "BTC"})
}

// poolOf returns svc's address pool of the store's regtest wallet.
func poolOf(svc *Service, storeID string) *addressPool {
	return svc.addressPool(storeID, cryptopay.NetworkBitcoinRegtest)
}

// TestAddressesDerivedAhead: one client creating invoices one after the
// other gets the wallet's receiving addresses 0, 1, 2… in order (as a
// wallet restored from the key computes them, through hdkeychain), and
// after the pool's first reservation no request derives an address
// itself: each was derived in the background when its block was reserved.
func TestAddressesDerivedAhead(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			svc, _ := newTestService(t, e.open)
			accountKey := regtestVpub(t, 0)
			storeID, key := regtestShop(t, svc, accountKey)
			const n = 3*addressBlockSize + 5
			for i := range uint32(n) {
				inv, err := createRegtestInvoice(t, svc, key)
				if err != nil {
					t.Fatal(err)
				}
				if want := walletAddress(t, accountKey, i); inv.AddressIndex != i || inv.Address != want {
					t.Fatalf("invoice %d: index %d address %s; want the wallet's receiving address %d %s", i, inv.AddressIndex, inv.Address, i, want)
				}
				// One client: the background work ends between two of
				// its requests.
				waitReserved(t, svc)
			}
			p := poolOf(svc, storeID)
			p.mu.Lock()
			inline := p.derivedInline
			p.mu.Unlock()
			// The first invoice waited for the pool's first block and may
			// have derived its own address; no other did.
			if inline > 1 {
				t.Errorf("%d of %d addresses were derived on a request's goroutine; want at most the first", inline, n)
			}
		})
	}
}

// TestAddressesConcurrent: clients on two instances of one database
// create invoices at once (run it with -race). No address is handed out
// twice, each is the wallet's receiving address at its index (the
// hdkeychain oracle), the first is index 0 and no 20 indexes in a row go
// unused (a wallet's gap limit).
func TestAddressesConcurrent(t *testing.T) {
	const (
		clients  = 4 // per instance
		each     = 2*addressBlockSize + 3
		gapLimit = 20
	)
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a, b := twoInstances(t, engine)
			accountKey := regtestVpub(t, 0)
			_, key := regtestShop(t, a, accountKey)
			var mu sync.Mutex
			var got []*cryptopay.Invoice
			var wg sync.WaitGroup
			for _, svc := range []*Service{a, b} {
				for range clients {
					wg.Go(func() {
						for range each {
							inv, err := createRegtestInvoice(t, svc, key)
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							got = append(got, inv)
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			byAddress := map[string]uint32{}
			var indexes []uint32
			for _, inv := range got {
				if prev, ok := byAddress[inv.Address]; ok {
					t.Fatalf("address %s handed out twice (indexes %d and %d)", inv.Address, prev, inv.AddressIndex)
				}
				byAddress[inv.Address] = inv.AddressIndex
				if want := walletAddress(t, accountKey, inv.AddressIndex); inv.Address != want {
					t.Errorf("invoice %s: index %d has address %s; the wallet's is %s", inv.ID, inv.AddressIndex, inv.Address, want)
				}
				indexes = append(indexes, inv.AddressIndex)
			}
			if len(indexes) != 2*clients*each {
				t.Fatalf("%d invoices, want %d", len(indexes), 2*clients*each)
			}
			slices.Sort(indexes)
			if len(slices.Compact(slices.Clone(indexes))) != len(indexes) {
				t.Fatalf("an index was handed out twice: %v", indexes)
			}
			if indexes[0] != 0 {
				t.Errorf("first index %d, want 0", indexes[0])
			}
			checkGaps(t, "concurrent", indexes, gapLimit)
		})
	}
}

// TestAddressesAfterReplacementConcurrent: clients keep creating invoices
// while the instance they use replaces the store's key. Every invoice
// started after the replacement returned (the pool has seen the new
// generation) gets a receiving address of the new key, although blocks of
// the old key had been reserved and derived ahead; the new key's indexes
// start at 0 with no gap of 20; every address is one key's receiving
// address at its index, and none is handed out twice.
func TestAddressesAfterReplacementConcurrent(t *testing.T) {
	const (
		clients  = 6
		gapLimit = 20
	)
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			svc, _ := newTestService(t, e.open)
			ctx := operatorCtx(t)
			oldKey, newKey := regtestVpub(t, 0), regtestVpub(t, 3)
			storeID, key := regtestShop(t, svc, oldKey)
			net := string(cryptopay.NetworkBitcoinRegtest)

			type made struct {
				inv   *cryptopay.Invoice
				after bool // started after the replacement returned
			}
			var (
				replaced atomic.Bool
				stop     atomic.Bool
				mu       sync.Mutex
				got      []made
				wg       sync.WaitGroup
				afterN   atomic.Int64
			)
			for range clients {
				wg.Go(func() {
					for !stop.Load() {
						after := replaced.Load()
						inv, err := createRegtestInvoice(t, svc, key)
						if err != nil {
							t.Error(err)
							return
						}
						if after {
							afterN.Add(1)
						}
						mu.Lock()
						got = append(got, made{inv, after})
						mu.Unlock()
					}
				})
			}
			// Let the clients use up a few blocks of the old key, with its
			// spare derived ahead, then replace it under them.
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= 2*addressBlockSize+3 || t.Failed() {
					break
				}
				time.Sleep(time.Millisecond)
			}
			p, err := svc.PreviewAccountKey(ctx, storeID, net, newKey)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.ReplaceAccountKey(ctx, storeID, net, newKey, p.Fingerprint); err != nil {
				t.Fatal(err)
			}
			replaced.Store(true)
			for afterN.Load() < 3*addressBlockSize && !t.Failed() {
				time.Sleep(time.Millisecond)
			}
			stop.Store(true)
			wg.Wait()
			if t.Failed() {
				return
			}

			seen := map[string]bool{}
			var newIndexes []uint32
			for _, m := range got {
				inv := m.inv
				if seen[inv.Address] {
					t.Fatalf("address %s handed out twice", inv.Address)
				}
				seen[inv.Address] = true
				switch inv.Address {
				case walletAddress(t, newKey, inv.AddressIndex):
					newIndexes = append(newIndexes, inv.AddressIndex)
				case walletAddress(t, oldKey, inv.AddressIndex):
					if m.after {
						t.Errorf("invoice %s, started after the replacement, got the old key's address %d", inv.ID, inv.AddressIndex)
					}
				default:
					t.Errorf("invoice %s: address %s is receiving address %d of neither key", inv.ID, inv.Address, inv.AddressIndex)
				}
			}
			if len(newIndexes) == 0 {
				t.Fatal("no invoice got an address of the new key")
			}
			if first := slices.Min(newIndexes); first != 0 {
				t.Errorf("the new key's first index is %d, want 0", first)
			}
			checkGaps(t, "new key", newIndexes, gapLimit)
		})
	}
}

// TestAddressUnusableIndexSkipped: an index BIP32 defines no key for
// (odds below 1 in 2^127, so the test plants one in a derived block) is
// skipped, as wallets skip it: the invoice gets the next index and its
// address, and the unusable index is never handed out.
func TestAddressUnusableIndexSkipped(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			svc, _ := newTestService(t, e.open)
			accountKey := regtestVpub(t, 0)
			storeID, key := regtestShop(t, svc, accountKey)
			for range 3 {
				if _, err := createRegtestInvoice(t, svc, key); err != nil {
					t.Fatal(err)
				}
			}
			waitReserved(t, svc)
			p := poolOf(svc, storeID)
			p.mu.Lock()
			bad := p.cur.next
			p.cur.addrs[bad-p.cur.first] = derivedAddress{done: true, err: account.ErrUnusableIndex}
			p.mu.Unlock()

			var indexes []uint32
			for range 3 {
				inv, err := createRegtestInvoice(t, svc, key)
				if err != nil {
					t.Fatal(err)
				}
				if want := walletAddress(t, accountKey, inv.AddressIndex); inv.Address != want {
					t.Errorf("index %d: address %s, the wallet's is %s", inv.AddressIndex, inv.Address, want)
				}
				indexes = append(indexes, inv.AddressIndex)
			}
			if want := []uint32{bad + 1, bad + 2, bad + 3}; !slices.Equal(indexes, want) {
				t.Errorf("indexes %v after the unusable index %d; want %v", indexes, bad, want)
			}
		})
	}
}

// BenchmarkCreateInvoiceOneClient creates invoices one after the other
// through the service (no HTTP), the one-client case whose latency the
// background derivation shortens, and reports the median latency and how
// many addresses per invoice a request had to derive itself.
func BenchmarkCreateInvoiceOneClient(b *testing.B) {
	for _, e := range testdb.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			svc := New(Config{DB: e.Open(b), Outbox: eventsOnly{}})
			storeID, key := regtestShop(b, svc, regtestVpub(b, 0))
			for range addressBlockSize { // past the first block
				if _, err := createRegtestInvoice(b, svc, key); err != nil {
					b.Fatal(err)
				}
			}
			p := poolOf(svc, storeID)
			p.mu.Lock()
			inline0 := p.derivedInline
			p.mu.Unlock()
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := createRegtestInvoice(b, svc, key); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			p.mu.Lock()
			inline := p.derivedInline - inline0
			p.mu.Unlock()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(inline)/float64(len(lat)), "inline-derived/op")
		})
	}
}

// BenchmarkNextAddressOneClient times what a request spends getting its
// deposit address (nextAddress: an index and its address) when requests
// come one at a time, a pause standing in for the rest of each request
// (the insert), during which the background reservation and derivation
// run. It reports the median; before the background derivation the
// median was one secp256k1 child derivation.
func BenchmarkNextAddressOneClient(b *testing.B) {
	const pause = 700 * time.Microsecond
	for _, e := range testdb.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			svc := New(Config{DB: e.Open(b), Outbox: eventsOnly{}})
			storeID, _ := regtestShop(b, svc, regtestVpub(b, 0))
			net := cryptopay.NetworkBitcoinRegtest
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := svc.nextAddress(b.Context(), storeID, net, 0); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				b.StopTimer()
				time.Sleep(pause)
				b.StartTimer()
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		})
	}
}
