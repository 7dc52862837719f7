package checkout

import (
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
)

// TestStateKinds maps every invoice situation to what the payer is told.
func TestStateKinds(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pay := func(confs int64, st cryptopay.PaymentStatus) cryptopay.Payment {
		return cryptopay.Payment{Amount: big.NewInt(50_000), Confirmations: confs, Status: st}
	}
	cases := []struct {
		name     string
		status   cryptopay.Status
		flags    cryptopay.Flag
		paid     int64
		expires  time.Duration // from now
		payments []cryptopay.Payment
		kind     Kind
		confs    int
		payable  bool
		final    bool
		message  string // a fragment of the message
	}{
		{name: "new unpaid", status: cryptopay.StatusNew, expires: time.Hour, kind: KindWaiting, payable: true, message: "exact amount"},
		{name: "new part paid shows the rest", status: cryptopay.StatusNew, flags: cryptopay.FlagPaidPartial, paid: 40_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentPending)}, kind: KindPartial, payable: true, message: "remaining 0.00060000 BTC"},
		{name: "new past expiry shows expired before the job runs", status: cryptopay.StatusNew, expires: -time.Second, kind: KindExpired, final: true},
		{name: "in the mempool", status: cryptopay.StatusProcessing, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentPending), pay(0, cryptopay.PaymentPending)}, kind: KindMempool},
		{name: "confirming counts the weakest payment", status: cryptopay.StatusProcessing, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(2, cryptopay.PaymentPending), pay(1, cryptopay.PaymentPending)}, kind: KindConfirming, confs: 1, message: "1 of 3"},
		{name: "one payment unconfirmed is still mempool", status: cryptopay.StatusProcessing, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(2, cryptopay.PaymentPending), pay(0, cryptopay.PaymentPending)}, kind: KindMempool},
		{name: "a double spent payment is not counted", status: cryptopay.StatusProcessing, flags: cryptopay.FlagDoubleSpent, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentDoubleSpent), pay(2, cryptopay.PaymentPending)}, kind: KindConfirming, confs: 2},
		{name: "settled", status: cryptopay.StatusSettled, paid: 100_000, kind: KindPaid, confs: 3, final: true},
		{name: "settled after expiry is still paid", status: cryptopay.StatusSettled, paid: 100_000, expires: -time.Hour, kind: KindPaid, confs: 3, final: true},
		{name: "expired", status: cryptopay.StatusExpired, expires: -time.Hour, kind: KindExpired, final: true, message: "Do not send"},
		{name: "expired then paid", status: cryptopay.StatusExpired, flags: cryptopay.FlagPaidLate, paid: 100_000, expires: -time.Hour, kind: KindPaidLate, final: true},
		{name: "double spent while new", status: cryptopay.StatusNew, flags: cryptopay.FlagDoubleSpent, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentDoubleSpent)}, kind: KindDoubleSpent, message: "contact the shop"},
		{name: "invalid", status: cryptopay.StatusInvalid, paid: 100_000, kind: KindInvalid, final: true, message: "contact the shop"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := &cryptopay.Invoice{ID: "inv_x", Network: cryptopay.NetworkBitcoinRegtest, Address: "bcrt1qexample",
				Amount: big.NewInt(6500), Currency: "USD", CryptoDue: big.NewInt(100_000), AmountPaid: big.NewInt(c.paid),
				Status: c.status, Flags: c.flags, RequiredConfirmations: 3, ExpiresAt: now.Add(c.expires),
				RedirectURL: "https://shop.example/done", Payments: c.payments}
			s := newState(inv, now, &English)
			if s.Kind != c.kind || s.Confirmations != c.confs || s.Payable != c.payable || s.Final != c.final {
				t.Fatalf("state %s confs %d payable %v final %v; want %s %d %v %v", s.Kind, s.Confirmations, s.Payable, s.Final, c.kind, c.confs, c.payable, c.final)
			}
			if !strings.Contains(s.Message, c.message) || s.Title == "" {
				t.Errorf("title %q message %q; want the message to contain %q", s.Title, s.Message, c.message)
			}
			if (s.RedirectURL != "") != (c.kind == KindPaid) {
				t.Errorf("redirect %q in state %s: the way back to the shop is offered only once paid", s.RedirectURL, s.Kind)
			}
			if s.Price != "65.00 USD" {
				t.Errorf("price %q", s.Price)
			}
		})
	}
}

func TestStateAmountsAndURI(t *testing.T) {
	now := time.Now()
	inv := &cryptopay.Invoice{ID: "inv_x", Network: cryptopay.NetworkBitcoinRegtest, Address: "bcrt1qexample",
		Amount: big.NewInt(100_000), Currency: "BTC", CryptoDue: big.NewInt(100_000), AmountPaid: big.NewInt(30_000),
		Status: cryptopay.StatusNew, Flags: cryptopay.FlagPaidPartial, ExpiresAt: now.Add(90 * time.Second)}
	s := newState(inv, now, &English)
	want := State{Kind: KindPartial, Status: "new", Flags: []string{"paid_partial"}, Asset: "BTC", Address: "bcrt1qexample",
		AmountDue: "0.00100000", AmountPaid: "0.00030000", Remaining: "0.00070000", Price: "",
		URI: "bitcoin:bcrt1qexample?amount=0.0007", QRURL: "/pay/inv_x/qr.svg?amount=0.00070000", ExpiresIn: 90}
	if s.Kind != want.Kind || s.Status != want.Status || !slices.Equal(s.Flags, want.Flags) || s.Address != want.Address ||
		s.AmountDue != want.AmountDue || s.AmountPaid != want.AmountPaid || s.Remaining != want.Remaining || s.Price != want.Price ||
		s.URI != want.URI || s.QRURL != want.QRURL || s.ExpiresIn != want.ExpiresIn {
		t.Fatalf("state\n got %+v\nwant %+v", s, want)
	}
	// Paid in full: the URI and QR keep the whole amount, never "amount=0".
	inv.AmountPaid = big.NewInt(100_000)
	inv.Status = cryptopay.StatusProcessing
	if s := newState(inv, now, &English); s.URI != "bitcoin:bcrt1qexample?amount=0.001" || s.Remaining != "0.00000000" {
		t.Fatalf("paid in full: uri %q remaining %q", s.URI, s.Remaining)
	}
}

func TestPaymentURI(t *testing.T) {
	for _, c := range []struct {
		name string
		sats int64
		want string
	}{
		{"whole coin", 100_000_000, "bitcoin:addr?amount=1"},
		{"one satoshi", 1, "bitcoin:addr?amount=0.00000001"},
		{"trailing zeros trimmed", 150_000, "bitcoin:addr?amount=0.0015"},
		{"many coins", 2_100_000_000_000_000, "bitcoin:addr?amount=21000000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := paymentURI(cryptopay.NetworkBitcoin, "addr", big.NewInt(c.sats), 8); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestClock(t *testing.T) {
	for in, want := range map[int64]string{0: "0:00", -5: "0:00", 59: "0:59", 61: "1:01", 900: "15:00", 3723: "1:02:03"} {
		if got := clock(in); got != want {
			t.Errorf("clock(%d) = %q, want %q", in, got, want)
		}
	}
}
