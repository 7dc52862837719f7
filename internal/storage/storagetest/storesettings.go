package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/google/go-cmp/cmp"
)

func testStoreSettings(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	st := newStore(t, "branded")
	if err := db.InTx(ctx, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetStoreSettings(ctx, st.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("settings of a store that never had any: %v, want ErrNotFound", err)
	}

	// Every byte value survives, NUL and high bytes included.
	logo := []byte("\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
	cases := []struct {
		name string
		in   cryptopay.StoreSettings
	}{
		{"full", cryptopay.StoreSettings{StoreID: st.ID, SupportURL: "https://shop.example/help", SupportEmail: "help@shop.example",
			BrandColor: "#0a7f3f", ExplorerTxURL: "https://explorer.example/tx/{txid}", Logo: logo, LogoType: "image/png", UpdatedAt: base.Add(time.Second)}},
		{"replaced, logo removed", cryptopay.StoreSettings{StoreID: st.ID, SupportEmail: "desk@shop.example", UpdatedAt: base.Add(2*time.Second + 1500*time.Nanosecond)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if err := db.InTx(ctx, func(tx storage.Tx) error { return tx.PutStoreSettings(ctx, &in) }); err != nil {
				t.Fatal(err)
			}
			got, err := db.GetStoreSettings(ctx, st.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := c.in
			want.UpdatedAt = us(want.UpdatedAt)
			if d := cmp.Diff(&want, got); d != "" {
				t.Fatalf("read back (-want +got):\n%s", d)
			}
		})
	}

	err := db.InTx(ctx, func(tx storage.Tx) error {
		return tx.PutStoreSettings(ctx, &cryptopay.StoreSettings{StoreID: cryptopay.NewID(cryptopay.PrefixStore, base), UpdatedAt: base})
	})
	if !errors.Is(err, storage.ErrForeignKey) {
		t.Fatalf("settings of an unknown store: %v, want ErrForeignKey", err)
	}
}
