package httpapi

import (
	"context"
	"encoding/json"
	"math/big"
	"reflect"
	"testing"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestListInvoicesShowsWhatGetShows: every invoice of GET /v1/invoices is
// byte for byte the object GET /v1/invoices/{id} returns, payments
// included, on every page size.
func TestListInvoicesShowsWhatGetShows(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var ids []string
		for i, n := range []int{2, 0, 1} { // payments per invoice
			inv, err := e.c.CreateInvoice(ctx, usdInvoice("o-"+string(rune('a'+i))))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, inv.ID)
			err = e.db.InTx(ctx, func(tx storage.Tx) error {
				for j := range n {
					now := e.svc.Now()
					p := &cryptopay.Payment{ID: cryptopay.NewID(cryptopay.PrefixPayment, now), InvoiceID: inv.ID,
						TxID: "ab" + inv.ID[4:] + string(rune('0'+j)), Vout: uint32(j), Amount: big.NewInt(int64(1000 * (j + 1))),
						BlockHash: "00ff", BlockHeight: 100, Confirmations: 1, FromAddress: "bcrt1qsender",
						Status: cryptopay.PaymentPending, SeenAt: now}
					if err := tx.CreatePayment(ctx, p); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]any{}
		for _, id := range ids {
			var inv map[string]any
			e.call(e.secret, "GET", "/v1/invoices/"+id, "", 200, &inv)
			want[id] = inv
		}
		for _, limit := range []string{"1", "2", "10"} {
			got := map[string]any{}
			after := ""
			for {
				var page struct {
					Data    []json.RawMessage `json:"data"`
					HasMore bool              `json:"has_more"`
				}
				e.call(e.secret, "GET", "/v1/invoices?limit="+limit+after, "", 200, &page)
				for _, raw := range page.Data {
					var inv map[string]any
					if err := json.Unmarshal(raw, &inv); err != nil {
						t.Fatal(err)
					}
					got[inv["id"].(string)] = inv
					after = "&starting_after=" + inv["id"].(string)
				}
				if !page.HasMore {
					break
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("pages of %s: listed invoices differ from GET /v1/invoices/{id}:\n got %v\nwant %v", limit, got, want)
			}
		}
		if ps := want[ids[0]].(map[string]any)["payments"].([]any); len(ps) != 2 {
			t.Errorf("first invoice's payments: %v", ps)
		}
	})
}
