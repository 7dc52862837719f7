package evmsource_test

import (
	"encoding/json"
	"html"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/checkout"
	"github.com/cryptopay/cryptopay/internal/evm/evmnet"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// ether returns n/1000 ETH in wei, computed from 10^18 rather than the
// code's decimals.
func milliEther(n int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(15), nil))
}

// TestSettleOnSimulatedChain pays ETH and 6-decimal token invoices exactly,
// partly and over on the simulated chain and follows them through the
// watcher and the tracker to settlement (2 confirmations required), on
// every database engine.
func TestSettleOnSimulatedChain(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storageDB) {
		h := newHarness(t, db)

		ethExact := h.invoice("eth-exact", "1.5", "ETH", "ETH")
		usdcExact := h.invoice("usdc-exact", "10.00", "USDC", "USDC")
		usdcPartial := h.invoice("usdc-partial", "10.00", "USDC", "USDC")
		usdcOver := h.invoice("usdc-over", "10.00", "USDC", "USDC")
		ethPartial := h.invoice("eth-partial", "2", "ETH", "")
		if ethPartial.Asset != "ETH" {
			t.Fatalf("default asset on evm-dev = %s, want ETH", ethPartial.Asset)
		}
		if usdcExact.CryptoDue.Cmp(big.NewInt(10_000_000)) != 0 {
			t.Fatalf("10.00 USDC due = %s base units, want 10000000", usdcExact.CryptoDue)
		}

		h.payETH(ethExact.Address, milliEther(1500))
		h.payToken(usdcExact.Address, 10_000_000)
		h.payToken(usdcPartial.Address, 4_000_000)
		h.payToken(usdcOver.Address, 12_500_000)
		h.payETH(ethPartial.Address, milliEther(500))
		h.commit()
		h.step()

		type want struct {
			status cryptopay.Status
			flags  []string
			paid   *big.Int
		}
		check := func(when string, inv *cryptopay.Invoice, w want) {
			t.Helper()
			got := h.get(inv.ID)
			if got.Status != w.status || !slices.Equal(got.Flags.Names(), w.flags) || got.AmountPaid.Cmp(w.paid) != 0 {
				t.Errorf("%s: %s = %s %v paid %s, want %s %v paid %s", when, inv.OrderID, got.Status, got.Flags.Names(), got.AmountPaid, w.status, w.flags, w.paid)
			}
		}
		none := []string{}
		check("1 block", ethExact, want{cryptopay.StatusProcessing, none, milliEther(1500)})
		check("1 block", usdcExact, want{cryptopay.StatusProcessing, none, big.NewInt(10_000_000)})
		check("1 block", usdcPartial, want{cryptopay.StatusNew, []string{"paid_partial"}, big.NewInt(4_000_000)})
		check("1 block", usdcOver, want{cryptopay.StatusProcessing, []string{"paid_over"}, big.NewInt(12_500_000)})
		check("1 block", ethPartial, want{cryptopay.StatusNew, []string{"paid_partial"}, milliEther(500)})

		h.commit()
		h.step()
		check("2 blocks", ethExact, want{cryptopay.StatusSettled, none, milliEther(1500)})
		check("2 blocks", usdcExact, want{cryptopay.StatusSettled, none, big.NewInt(10_000_000)})
		check("2 blocks", usdcPartial, want{cryptopay.StatusNew, []string{"paid_partial"}, big.NewInt(4_000_000)})
		check("2 blocks", usdcOver, want{cryptopay.StatusSettled, []string{"paid_over"}, big.NewInt(12_500_000)})

		// The rest of the partly paid token invoice settles it.
		h.payToken(usdcPartial.Address, 6_000_000)
		h.commit()
		h.commit()
		h.step()
		check("topped up", usdcPartial, want{cryptopay.StatusSettled, none, big.NewInt(10_000_000)})
		if got := h.get(usdcPartial.ID); len(got.Payments) != 2 {
			t.Errorf("topped-up invoice has %d payments, want 2", len(got.Payments))
		}
		if evs := h.events(usdcExact.ID); !slices.Contains(evs, string(cryptopay.EventInvoiceSettled)) {
			t.Errorf("usdc-exact events %v lack invoice.settled", evs)
		}
	})
}

// TestWrongAssetNotCredited: ether sent to a token invoice's address, and
// the token sent to an ether invoice's, are recorded as wrong_asset and
// never count towards the invoice.
func TestWrongAssetNotCredited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storageDB) {
		h := newHarness(t, db)
		usdc := h.invoice("usdc", "10.00", "USDC", "USDC")
		eth := h.invoice("eth", "0.01", "ETH", "ETH")
		// 10 ETH in wei is 10^19, far above the 10^7 due: were it read as
		// USDC the invoice would settle over-paid.
		h.payETH(usdc.Address, milliEther(10_000))
		h.payToken(eth.Address, 500_000_000)
		h.commit()
		h.commit()
		h.step()
		for _, inv := range []*cryptopay.Invoice{usdc, eth} {
			got := h.get(inv.ID)
			if got.Status != cryptopay.StatusNew || got.AmountPaid.Sign() != 0 || !slices.Equal(got.Flags.Names(), []string{"wrong_asset"}) {
				t.Errorf("%s = %s %v paid %s, want new [wrong_asset] paid 0", inv.OrderID, got.Status, got.Flags.Names(), got.AmountPaid)
			}
			if len(got.Payments) != 1 || got.Payments[0].Status != cryptopay.PaymentWrongAsset {
				t.Errorf("%s payments = %+v, want one wrong_asset", inv.OrderID, got.Payments)
			}
			if evs := h.events(inv.ID); !slices.Contains(evs, string(cryptopay.EventPaymentWrongAsset)) {
				t.Errorf("%s events %v lack payment.wrong_asset", inv.OrderID, evs)
			}
		}
		// Read back, each wrong-asset payment is in its own asset and
		// decimals, through the store (single and listed), the API body and
		// the event: 500 USDC to the ether invoice is "500.000000" USDC,
		// not 0.0000000005 ETH; 10 ETH to the USDC invoice is 10 ETH, not
		// ten trillion USDC.
		wantPay := map[string][2]string{
			eth.ID:  {"USDC", "500.000000"},
			usdc.ID: {"ETH", "10.000000000000000000"},
		}
		listed, _, err := h.db.ListInvoices(h.ctx, storage.InvoiceFilter{StoreID: h.key.StoreID, Page: storage.Page{Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range listed {
			if w, ok := wantPay[inv.ID]; ok && (len(inv.Payments) != 1 || inv.Payments[0].Asset != w[0]) {
				t.Errorf("listed %s payments = %+v, want one in %s", inv.OrderID, inv.Payments, w[0])
			}
		}
		for id, w := range wantPay {
			got := h.get(id)
			var body struct {
				Payments []struct{ Amount, Asset, Status string }
			}
			raw, _ := json.Marshal(httpapi.InvoiceResource(h.svc, got, "https://pay.example"))
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Payments) != 1 || body.Payments[0].Asset != w[0] || body.Payments[0].Amount != w[1] {
				t.Errorf("%s API payments = %+v, want one of %s %s", got.OrderID, body.Payments, w[1], w[0])
			}
			evs, _, err := h.db.ListEvents(h.ctx, storage.EventFilter{InvoiceID: id, StoreID: h.key.StoreID, Page: storage.Page{Limit: 100}})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Type != cryptopay.EventPaymentWrongAsset {
					continue
				}
				var d cryptopay.InvoiceEventData
				if err := json.Unmarshal(e.Data, &d); err != nil {
					t.Fatal(err)
				}
				if d.PaymentAsset != w[0] || d.PaymentAmount != w[1] {
					t.Errorf("%s payment.wrong_asset data: payment %s %s, want %s %s", got.OrderID, d.PaymentAmount, d.PaymentAsset, w[1], w[0])
				}
			}
		}
		// The payer's page shows each in its own asset, and why it is not
		// credited.
		if page := checkoutPage(t, h, eth.ID); !strings.Contains(page, "500.000000 USDC") || !strings.Contains(page, "Another asset: not credited") {
			t.Errorf("ether invoice's checkout page lacks the 500.000000 USDC wrong_asset payment:\n%s", page)
		}
		// The right asset still settles the invoice afterwards.
		h.payToken(usdc.Address, 10_000_000)
		h.commit()
		h.commit()
		h.step()
		if got := h.get(usdc.ID); got.Status != cryptopay.StatusSettled || got.AmountPaid.Cmp(big.NewInt(10_000_000)) != 0 {
			t.Errorf("usdc after the right payment = %s paid %s, want settled paid 10000000", got.Status, got.AmountPaid)
		}
	})
}

// TestReorgRemovesAndRemines: the block holding a token payment leaves the
// chain and a new branch mines the same transaction in another block (after
// an unrelated transaction that shifts the block's log indexes): the
// invoice is paid once, never twice, and settles on the new branch.
func TestReorgRemovesAndRemines(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storageDB) {
		h := newHarness(t, db)
		inv := h.invoice("remine", "10.00", "USDC", "USDC")
		parent := h.head()
		tx := h.payToken(inv.Address, 10_000_000)
		first := h.commit()
		h.step()
		if got := h.get(inv.ID); got.Status != cryptopay.StatusProcessing {
			t.Fatalf("before the reorg: %s, want processing", got.Status)
		}
		if err := h.sim.Fork(parent); err != nil {
			t.Fatal(err)
		}
		// An unrelated token transfer with a higher tip goes first in the
		// new block, so the payment's log has another block-level index.
		h.send(h.other, &h.token, nil, h.pack("transfer", common.HexToAddress("0x00000000000000000000000000000000000000aa"), big.NewInt(1)), 5)
		second := h.commit()
		if second == first {
			t.Fatal("the new branch mined the same block")
		}
		h.commit()
		h.step()
		got := h.get(inv.ID)
		if got.Status != cryptopay.StatusSettled || got.AmountPaid.Cmp(big.NewInt(10_000_000)) != 0 {
			t.Errorf("after the reorg: %s paid %s, want settled paid 10000000", got.Status, got.AmountPaid)
		}
		if len(got.Payments) != 1 || got.Payments[0].TxID != lower(tx.Hash()) || got.Payments[0].BlockHash != lower(second) {
			t.Errorf("payments = %+v, want one, of %s in block %s", got.Payments, tx.Hash().Hex(), second.Hex())
		}
	})
}

// TestReorgRemovesForGood: the payment's block leaves the chain and the new
// branch mines a transaction from the same sender with the same nonce that
// pays someone else: the payment is double spent and the invoice goes back
// to new; it is never settled.
func TestReorgRemovesForGood(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storageDB) {
		h := newHarness(t, db)
		inv := h.invoice("gone", "1", "ETH", "ETH")
		parent := h.head()
		tx := h.payETH(inv.Address, milliEther(1000))
		h.commit()
		h.step()
		if got := h.get(inv.ID); got.Status != cryptopay.StatusProcessing {
			t.Fatalf("before the reorg: %s, want processing", got.Status)
		}
		if err := h.sim.Fork(parent); err != nil {
			t.Fatal(err)
		}
		// The pool would mine the payment again: empty it, as a node that
		// never saw the payment would be, and spend its nonce elsewhere.
		h.sim.Rollback()
		elsewhere := common.HexToAddress("0x00000000000000000000000000000000000000bb")
		h.sendNonce(h.payer, tx.Nonce(), &elsewhere, milliEther(1000), nil, 10) // replaces the payment
		h.commit()
		h.commit()
		h.commit()
		h.step()
		got := h.get(inv.ID)
		if got.Status != cryptopay.StatusNew || got.AmountPaid.Sign() != 0 {
			t.Errorf("after the reorg: %s paid %s, want new paid 0", got.Status, got.AmountPaid)
		}
		if len(got.Payments) != 1 || got.Payments[0].Status != cryptopay.PaymentDoubleSpent {
			t.Errorf("payments = %+v, want one double_spent", got.Payments)
		}
		if !slices.Contains(got.Flags.Names(), "double_spent") {
			t.Errorf("flags %v lack double_spent", got.Flags.Names())
		}
	})
}

// TestDepositAddressAndURI: the deposit address is the factory's CREATE2
// address for the store's receiving address and the invoice's salt, and
// the payment URIs are EIP-681 with the chain id.
func TestDepositAddressAndURI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storageDB) {
		h := newHarness(t, db)
		a := h.invoice("a", "10.00", "USDC", "USDC")
		b := h.invoice("b", "10.00", "USDC", "USDC")
		if a.Address == b.Address {
			t.Fatal("two invoices share a deposit address")
		}
		if _, err := evmnet.ParseAddress(a.Address); err != nil {
			t.Fatalf("deposit address %q: %v", a.Address, err)
		}
		d := h.svc.PaymentURI(a)
		want := "ethereum:" + h.token.Hex() + "@1337/transfer?address=" + a.Address + "&uint256=10000000"
		if d != want {
			t.Errorf("token URI = %s, want %s", d, want)
		}
		// The checkout page names the network, warns against paying on
		// another chain and links the EIP-681 request.
		mux := http.NewServeMux()
		mux.HandleFunc("GET /pay/{id}", checkout.New(h.svc, nil).Page)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay/"+a.ID, nil))
		page := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(page, `id="network-warning"`) ||
			!strings.Contains(page, "Send USDC on the evm-dev network only") ||
			!strings.Contains(page, html.EscapeString(want)) || !strings.Contains(page, ">10.000000<") && !strings.Contains(page, `value="10.000000"`) {
			t.Errorf("checkout page (status %d) lacks the network warning, the EIP-681 link or the USDC amount:\n%s", rec.Code, page)
		}
		// The test-mode banner names the test network and the asset, not
		// bitcoin.
		if banner := "Test payment on the evm-dev test network: do not send real USDC."; !strings.Contains(page, banner) || strings.Contains(page, "real bitcoin") {
			t.Errorf("checkout page lacks the banner %q (or speaks of bitcoin):\n%s", banner, page)
		}
		// The address is named for its network, never as a bitcoin address.
		for _, want := range []string{"Deposit address (evm-dev network)", "Scan with a wallet on the evm-dev network", `aria-label="Copy the deposit address"`} {
			if !strings.Contains(page, want) {
				t.Errorf("checkout page lacks %q", want)
			}
		}
		if strings.Contains(strings.ToLower(page), "bitcoin address") || strings.Contains(page, "bitcoin wallet") {
			t.Errorf("checkout page of a USDC invoice speaks of a bitcoin address or wallet:\n%s", page)
		}
		// The command line shows what the API shows: the EIP-681 URI.
		var shown struct {
			PaymentURI string `json:"payment_uri"`
		}
		raw, _ := json.Marshal(httpapi.InvoiceResource(h.svc, a, "https://pay.example"))
		if err := json.Unmarshal(raw, &shown); err != nil || shown.PaymentURI != want {
			t.Errorf("invoice resource payment_uri = %q (%v), want %s", shown.PaymentURI, err, want)
		}
		e := h.invoice("e", "0.25", "ETH", "ETH")
		if got, want := h.svc.PaymentURI(e), "ethereum:"+e.Address+"@1337?value=250000000000000000"; got != want {
			t.Errorf("ether URI = %s, want %s", got, want)
		}
	})
}
