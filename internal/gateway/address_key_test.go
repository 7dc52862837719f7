package gateway

import (
	"fmt"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcutil/v2/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/cryptopay/cryptopay"
)

// walletAddress is the oracle for deposit addresses: the receiving
// address at index of an account key, as a wallet restored from the key
// computes it (BIP84: external chain 0, then index; P2WPKH on regtest),
// through btcutil's hdkeychain rather than the gateway's own derivation.
func walletAddress(t *testing.T, accountKey string, index uint32) string {
	t.Helper()
	acct, err := hdkeychain.NewKeyFromString(accountKey)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := acct.Derive(0)
	if err != nil {
		t.Fatal(err)
	}
	child, err := ext.Derive(index)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := child.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := address.NewAddressWitnessPubKeyHash(address.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// TestAddressKeyReplacement: two gateway instances on one database, one
// replacing the store's account key while the other still holds blocks
// of the old key and a stale store cache. The new key's first invoice
// gets index 0 and its addresses are the key's own receiving addresses
// 0, 1, 2… (what a wallet restored from it scans, gap limit 20); the
// other instance hands out at most its reserved blocks under the old key
// before following; no address is handed out twice; and going back to
// the old key resumes after every index used under it.
func TestAddressKeyReplacement(t *testing.T) {
	const gapLimit = 20
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a, b := twoInstances(t, engine)
			ctx := operatorCtx(t)
			oldKey, newKey := regtestVpub(t, 0), regtestVpub(t, 2)
			net := cryptopay.NetworkBitcoinRegtest
			st, err := a.CreateStore(ctx, StoreParams{Name: "shop",
				Wallets: []WalletParams{{Network: string(net), AccountKey: oldKey}}})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := a.CreateKey(ctx, KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}})
			if err != nil {
				t.Fatal(err)
			}
			// used maps each handed-out address to the key and index it
			// must be the receiving address of.
			used := map[string]string{}
			byKey := map[string][]uint32{}
			seq := 0
			create := func(svc *Service) *cryptopay.Invoice {
				t.Helper()
				seq++
				inv, err := svc.CreateInvoice(t.Context(), ck.Key, InvoiceParams{OrderID: fmt.Sprintf("o-%d", seq), Amount: "0.001", Currency: "BTC"})
				if err != nil {
					t.Fatal(err)
				}
				if prev, ok := used[inv.Address]; ok {
					t.Fatalf("address %s handed out twice (%s, now index %d)", inv.Address, prev, inv.AddressIndex)
				}
				var key string
				switch inv.Address {
				case walletAddress(t, oldKey, inv.AddressIndex):
					key = oldKey
				case walletAddress(t, newKey, inv.AddressIndex):
					key = newKey
				default:
					t.Fatalf("invoice %s: address %s is receiving address %d of neither key", inv.ID, inv.Address, inv.AddressIndex)
				}
				used[inv.Address] = fmt.Sprintf("%s/%d", key[:12], inv.AddressIndex)
				byKey[key] = append(byKey[key], inv.AddressIndex)
				return inv
			}
			for range 5 {
				create(a)
			}
			for range 3 {
				create(b) // b now caches the store and holds old-key blocks
			}
			waitReserved(t, a)
			waitReserved(t, b)

			p, err := a.PreviewAccountKey(ctx, st.ID, string(net), newKey)
			if err != nil {
				t.Fatal(err)
			}
			if p.FirstIndex != 0 || p.Resumed || p.FirstAddress != walletAddress(t, newKey, 0) {
				t.Fatalf("preview: index %d resumed %v address %s; want the new key's receiving address 0 %s",
					p.FirstIndex, p.Resumed, p.FirstAddress, walletAddress(t, newKey, 0))
			}
			// A background reservation of b in flight during the
			// replacement: b's next invoice starts one when it has none.
			done := make(chan struct{})
			go func() {
				defer close(done)
				if _, err := a.ReplaceAccountKey(ctx, st.ID, string(net), newKey, p.Fingerprint); err != nil {
					t.Error(err)
				}
			}()
			create(b)
			<-done

			// The instance that replaced the key derives from it at once,
			// from index 0, in order.
			for i := range 12 {
				inv := create(a)
				if want := walletAddress(t, newKey, uint32(i)); inv.Address != want || inv.AddressIndex != uint32(i) {
					t.Fatalf("invoice %d after the replacement: index %d %s; want the new key's receiving address %d %s",
						i, inv.AddressIndex, inv.Address, i, want)
				}
				waitReserved(t, a)
			}

			// b, with a stale store cache, hands out at most its reserved
			// blocks under the old key, then follows.
			stale := 0
			for inv := create(b); walletAddress(t, newKey, inv.AddressIndex) != inv.Address; inv = create(b) {
				stale++
				if stale > addressRefillAt+addressBlockSize {
					t.Fatalf("instance b still hands out old-key addresses after %d invoices", stale)
				}
			}
			t.Logf("instance b handed out %d old-key addresses before following", stale)
			for range 3 {
				create(b)
			}
			checkGaps(t, "new key", byKey[newKey], gapLimit)
			if byKey[newKey][0] != 0 {
				t.Errorf("the new key's first index is %d, want 0", byKey[newKey][0])
			}

			// Going back to the old key: it resumes after every index used
			// under it, never at one of them.
			back, err := b.PreviewAccountKey(ctx, st.ID, string(net), oldKey)
			if err != nil {
				t.Fatal(err)
			}
			maxOld := slices.Max(byKey[oldKey])
			if !back.Resumed || back.FirstIndex <= maxOld || back.FirstAddress != walletAddress(t, oldKey, back.FirstIndex) {
				t.Fatalf("preview of the old key: index %d resumed %v; want past %d", back.FirstIndex, back.Resumed, maxOld)
			}
			if _, err := b.ReplaceAccountKey(ctx, st.ID, string(net), oldKey, back.Fingerprint); err != nil {
				t.Fatal(err)
			}
			if inv := create(b); inv.Address != back.FirstAddress {
				t.Errorf("the next invoice got %s (index %d), the preview promised %s (index %d)", inv.Address, inv.AddressIndex, back.FirstAddress, back.FirstIndex)
			}
			// a learns from its store read (its cache refreshed) and from
			// its next reservation; either way, no address twice.
			a.stores.mu.Lock()
			delete(a.stores.entries, st.ID)
			a.stores.mu.Unlock()
			if inv := create(a); walletAddress(t, oldKey, inv.AddressIndex) != inv.Address {
				t.Errorf("a, after reading the store, still derives from the replaced key: index %d", inv.AddressIndex)
			}
			for range 10 {
				create(a)
				create(b)
			}
		})
	}
}

// checkGaps fails when the sorted indexes leave gapLimit or more unused
// addresses in a row.
func checkGaps(t *testing.T, what string, indexes []uint32, gapLimit uint32) {
	t.Helper()
	s := slices.Sorted(slices.Values(indexes))
	for i := 1; i < len(s); i++ {
		if gap := s[i] - s[i-1] - 1; gap >= gapLimit {
			t.Errorf("%s: %d unused addresses in a row between %d and %d; a wallet's gap limit is %d", what, gap, s[i-1], s[i], gapLimit)
		}
	}
}
