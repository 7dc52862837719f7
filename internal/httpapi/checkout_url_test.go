package httpapi

import (
	"crypto/tls"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
)

// TestCheckoutURL: an invoice's checkout_url uses the configured public
// URL, else the scheme and host the API client reached.
func TestCheckoutURL(t *testing.T) {
	inv := &cryptopay.Invoice{ID: cryptopay.NewID(cryptopay.PrefixInvoice, time.Now()), Amount: big.NewInt(100),
		Currency: "USD", Asset: "BTC", Network: cryptopay.NetworkBitcoinRegtest, CryptoDue: big.NewInt(1000),
		AmountPaid: new(big.Int), AmountConfirmed: new(big.Int), Address: "bcrt1qexample"}
	plain := httptest.NewRequest("GET", "http://gw.internal:8080/v1/invoices/"+inv.ID, nil)
	secure := httptest.NewRequest("GET", "https://pay.shop.example/v1/invoices/"+inv.ID, nil)
	secure.TLS = &tls.ConnectionState{}
	cases := []struct {
		name   string
		public string
		req    *http.Request
		want   string
	}{
		{"configured", "https://pay.example.com", plain, "https://pay.example.com/pay/" + inv.ID},
		{"derived over http", "", plain, "http://gw.internal:8080/pay/" + inv.ID},
		{"derived over tls", "", secure, "https://pay.shop.example/pay/" + inv.ID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{public: tc.public}
			if got := s.invoiceJSON(tc.req, inv).CheckoutURL; got != tc.want {
				t.Fatalf("checkout_url = %q, want %q", got, tc.want)
			}
		})
	}
	if got := InvoiceResource(nil, inv, "https://pay.example.com/").(invoiceBody).CheckoutURL; got != "https://pay.example.com/pay/"+inv.ID {
		t.Fatalf("InvoiceResource checkout_url = %q", got)
	}
}
