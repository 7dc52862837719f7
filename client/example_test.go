package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/cryptopay/cryptopay/client"
)

// fakeGateway answers like the real API for the example: one invoice, then
// a conflict for the same order.
func fakeGateway() *httptest.Server {
	created := false
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if created {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"conflict","message":"An invoice for order_id \"order-1042\" already exists: inv_01jbx2k8c3v6m9q4t7w0y5z8a1.","param":"order_id","request_id":"req_1"}}`)
			return
		}
		created = true
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"inv_01jbx2k8c3v6m9q4t7w0y5z8a1","object":"invoice","status":"new","amount":"25.00","currency":"USD",
			"crypto_amount":"0.00038462","address":"bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx",
			"payment_uri":"bitcoin:bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx?amount=0.00038462"}`)
	}))
}

func Example() {
	srv := fakeGateway()
	defer srv.Close()
	ctx := context.Background()

	c := client.New(srv.URL, "cp_test_…", client.WithUserAgent("myshop/1.0 "+client.DefaultUserAgent))
	params := client.InvoiceParams{OrderID: "order-1042", Amount: "25.00", Currency: "USD"}
	inv, err := c.CreateInvoice(ctx, params, client.WithIdempotencyKey("order-1042"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(inv.Status, inv.CryptoAmount, inv.PaymentURI)

	// Errors carry the API's code, message and offending parameter.
	_, err = c.CreateInvoice(ctx, params)
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.Param)
	}
	// Output:
	// new 0.00038462 bitcoin:bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx?amount=0.00038462
	// 409 conflict order_id
}
