package checkout

import (
	"cmp"
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
		window   time.Duration // monitoring window after expiry; 24 h when zero
		payments []cryptopay.Payment
		kind     Kind
		confs    int
		payable  bool
		final    bool
		help     bool
		message  string // a fragment of the message
	}{
		{name: "new unpaid", status: cryptopay.StatusNew, expires: time.Hour, kind: KindWaiting, payable: true, message: "exact amount"},
		{name: "new part paid says what came and what is left", status: cryptopay.StatusNew, flags: cryptopay.FlagPaidPartial, paid: 40_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentPending)}, kind: KindPartial, payable: true, message: "received 0.00040000 BTC. Please send the remaining 0.00060000 BTC"},
		{name: "new past expiry shows expired before the loop writes it", status: cryptopay.StatusNew, expires: -time.Second, kind: KindExpired, help: true},
		{name: "in the mempool", status: cryptopay.StatusProcessing, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentPending), pay(0, cryptopay.PaymentPending)}, kind: KindMempool},
		{name: "confirming counts the weakest payment", status: cryptopay.StatusProcessing, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(2, cryptopay.PaymentPending), pay(1, cryptopay.PaymentPending)}, kind: KindConfirming, confs: 1, message: "1 of 3"},
		{name: "one payment unconfirmed is still mempool", status: cryptopay.StatusProcessing, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(2, cryptopay.PaymentPending), pay(0, cryptopay.PaymentPending)}, kind: KindMempool},
		{name: "a double spent payment is not counted", status: cryptopay.StatusProcessing, flags: cryptopay.FlagDoubleSpent, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentDoubleSpent), pay(2, cryptopay.PaymentPending)}, kind: KindConfirming, confs: 2},
		{name: "confirming again after a reorg", status: cryptopay.StatusProcessing, flags: cryptopay.FlagReorged, paid: 100_000, expires: time.Hour,
			payments: []cryptopay.Payment{pay(1, cryptopay.PaymentReorged)}, kind: KindReorged, confs: 1, message: "confirmed again (1 of 3)"},
		{name: "settled", status: cryptopay.StatusSettled, paid: 100_000, kind: KindPaid, confs: 3, final: true, message: "received 0.00100000 BTC"},
		{name: "settled after expiry is still paid", status: cryptopay.StatusSettled, paid: 100_000, expires: -time.Hour, kind: KindPaid, confs: 3, final: true},
		{name: "settled by the shop's hand", status: cryptopay.StatusSettled, flags: cryptopay.FlagMarked, paid: 0, kind: KindPaid, confs: 3, final: true, message: "The shop confirmed"},
		{name: "settled late", status: cryptopay.StatusSettled, flags: cryptopay.FlagConfirmedLate, paid: 100_000, kind: KindPaid, confs: 3, final: true, message: "later than usual"},
		{name: "overpaid", status: cryptopay.StatusSettled, flags: cryptopay.FlagPaidOver, paid: 125_000, kind: KindOverpaid, confs: 3, final: true, help: true,
			message: "received 0.00125000 BTC for 0.00100000 BTC due: 0.00025000 BTC more"},
		{name: "expired", status: cryptopay.StatusExpired, expires: -time.Hour, kind: KindExpired, help: true, message: "Nothing was received. Do not send"},
		{name: "expired past its window is final", status: cryptopay.StatusExpired, expires: -time.Hour, window: time.Minute, kind: KindExpired, final: true, help: true},
		{name: "expired part paid says what came", status: cryptopay.StatusExpired, flags: cryptopay.FlagPaidPartial, paid: 40_000, expires: -time.Hour,
			payments: []cryptopay.Payment{pay(1, cryptopay.PaymentPending)}, kind: KindExpiredPartial, help: true, message: "received 0.00040000 BTC of the 0.00100000 BTC due"},
		{name: "expired then paid", status: cryptopay.StatusExpired, flags: cryptopay.FlagPaidLate, paid: 100_000, expires: -time.Hour, kind: KindPaidLate, help: true,
			message: "received 0.00100000 BTC after"},
		{name: "double spent while new: due again, as the API says", status: cryptopay.StatusNew, flags: cryptopay.FlagDoubleSpent, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentDoubleSpent)}, kind: KindDoubleSpent, payable: true, help: true,
			message: "payment of 0.00050000 BTC to this address was double spent"},
		{name: "replaced in the mempool", status: cryptopay.StatusNew, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentConflicted)}, kind: KindConflicted, payable: true, help: true, message: "0.00100000 BTC is due"},
		{name: "held for review", status: cryptopay.StatusNew, flags: cryptopay.FlagHeld, expires: time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentHeld)}, kind: KindHeld, help: true, message: "received 0.00050000 BTC, but it is held"},
		{name: "money after the window", status: cryptopay.StatusExpired, flags: cryptopay.FlagOutsideWindow, expires: -48 * time.Hour,
			payments: []cryptopay.Payment{pay(0, cryptopay.PaymentOutsideWindow)}, kind: KindOutsideWindow, final: true, help: true, message: "received 0.00050000 BTC after this request was closed"},
		{name: "invalid", status: cryptopay.StatusInvalid, paid: 100_000, kind: KindInvalid, final: true, help: true, message: "contact the shop"},
		{name: "closed by the shop", status: cryptopay.StatusInvalid, flags: cryptopay.FlagMarked, kind: KindClosed, final: true, help: true, message: "closed this payment request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			window := cmp.Or(c.window, 24*time.Hour)
			inv := &cryptopay.Invoice{ID: "inv_x", Network: cryptopay.NetworkBitcoinRegtest, Address: "bcrt1qexample",
				Amount: big.NewInt(6500), Currency: "USD", CryptoDue: big.NewInt(100_000), AmountPaid: big.NewInt(c.paid),
				Status: c.status, Flags: c.flags, RequiredConfirmations: 3, ExpiresAt: now.Add(c.expires), MonitorUntil: now.Add(c.expires + window),
				RedirectURL: "https://shop.example/done", Payments: c.payments}
			s := newState(inv, now, view{c: &English, tolerance: 50})
			if s.Kind != c.kind || s.Confirmations != c.confs || s.Payable != c.payable || s.Final != c.final || s.Help != c.help {
				t.Fatalf("state %s confs %d payable %v final %v help %v; want %s %d %v %v %v", s.Kind, s.Confirmations, s.Payable, s.Final, s.Help,
					c.kind, c.confs, c.payable, c.final, c.help)
			}
			if !strings.Contains(s.Message, c.message) || s.Title == "" {
				t.Errorf("title %q message %q; want the message to contain %q", s.Title, s.Message, c.message)
			}
			if (s.RedirectURL != "") != (c.status == cryptopay.StatusSettled) || (s.Receipt != nil) != (c.status == cryptopay.StatusSettled) {
				t.Errorf("redirect %q, receipt %v in state %s: the way back to the shop and the receipt come only once paid", s.RedirectURL, s.Receipt, s.Kind)
			}
			if s.Price != "65.00 USD" || s.Status != string(c.status) {
				t.Errorf("price %q status %q", s.Price, s.Status)
			}
			if s.ExchangeWarning != "" {
				t.Errorf("exchange warning %q on a store with a tolerance", s.ExchangeWarning)
			}
		})
	}
}

// TestStateEstimate: the time left is the confirmations still needed times
// the chain's ten-minute block interval.
func TestStateEstimate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name            string
		required, confs int64
		lang            *Catalogue
		want            string
	}{
		{"24 ahead", 24, 0, &English, "Confirmations to go: 24, about 4 h (one block every 10 min on average)."},
		{"12 ahead, 1 in", 12, 1, &English, "Confirmations to go: 11, about 1 h 50 min"},
		{"in German", 24, 3, &German, "Ausstehende Bestätigungen: 21, etwa 3 Std. 30 Min."},
		{"in Japanese", 12, 0, &Japanese, "残り 12 承認: 約2時間"},
		{"last one", 3, 2, &English, "Confirmations to go: 1, about 10 min"},
		{"none left", 3, 3, &English, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv := &cryptopay.Invoice{ID: "inv_x", Network: cryptopay.NetworkBitcoin, Address: "bc1qexample", Amount: big.NewInt(100_000), Currency: "BTC",
				CryptoDue: big.NewInt(100_000), AmountPaid: big.NewInt(100_000), Status: cryptopay.StatusProcessing, RequiredConfirmations: int(c.required),
				ExpiresAt: now.Add(time.Hour), MonitorUntil: now.Add(25 * time.Hour),
				Payments: []cryptopay.Payment{{Amount: big.NewInt(100_000), Confirmations: c.confs, Status: cryptopay.PaymentPending}}}
			s := newState(inv, now, view{c: c.lang})
			if !strings.HasPrefix(s.Estimate, c.want) || (c.want == "") != (s.Estimate == "") {
				t.Fatalf("estimate %q, want it to start %q", s.Estimate, c.want)
			}
		})
	}
}

// TestStateExchangeWarningAndReceipt: a store without tolerance warns about
// exchange fees while payable; a paid invoice carries a receipt in the
// payer's language, its transactions linked to the store's explorer.
func TestStateExchangeWarningAndReceipt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tx := strings.Repeat("ab", 32)
	inv := &cryptopay.Invoice{ID: "inv_x", Network: cryptopay.NetworkBitcoinRegtest, Address: "bcrt1qexample", Amount: big.NewInt(650_000), Currency: "USD",
		Rate: "65000.00000000", CryptoDue: big.NewInt(10_000_000), AmountPaid: big.NewInt(0), Status: cryptopay.StatusNew, RequiredConfirmations: 12,
		ExpiresAt: now.Add(time.Hour), MonitorUntil: now.Add(25 * time.Hour)}
	s := newState(inv, now, view{c: &English})
	if s.ExchangeWarning != "Paying from an exchange? It may deduct a withdrawal fee. Make sure exactly 0.10000000 BTC arrives, or the payment stays incomplete." {
		t.Fatalf("exchange warning %q", s.ExchangeWarning)
	}
	if s.URI != "bitcoin:bcrt1qexample?amount=0.1" {
		t.Fatalf("wallet link %q: it must carry the exact amount", s.URI)
	}
	settled := now.Add(-time.Minute)
	inv.Status, inv.AmountPaid, inv.SettledAt = cryptopay.StatusSettled, big.NewInt(10_000_000), &settled
	inv.Payments = []cryptopay.Payment{{TxID: tx, Amount: big.NewInt(10_000_000), Confirmations: 12, Status: cryptopay.PaymentConfirmed}}
	s = newState(inv, now, view{c: &German, explorer: "https://explorer.example/tx/{txid}"})
	want := Receipt{Received: "0,10000000 BTC", Price: "6.500,00 USD", Rate: "1 BTC = 65.000,00 USD", PaidAt: "2. Jan. 2026, 03:03 UTC"}
	if s.Receipt == nil || *s.Receipt != want {
		t.Fatalf("receipt %+v, want %+v", s.Receipt, want)
	}
	if s.ExchangeWarning != "" || len(s.Payments) != 1 || s.Payments[0].URL != "https://explorer.example/tx/"+tx || s.Payments[0].Summary != "Bestätigt" {
		t.Fatalf("paid: warning %q payments %+v", s.ExchangeWarning, s.Payments)
	}
}

func TestStateAmountsAndURI(t *testing.T) {
	now := time.Now()
	inv := &cryptopay.Invoice{ID: "inv_x", Network: cryptopay.NetworkBitcoinRegtest, Address: "bcrt1qexample",
		Amount: big.NewInt(100_000), Currency: "BTC", CryptoDue: big.NewInt(100_000), AmountPaid: big.NewInt(30_000),
		Status: cryptopay.StatusNew, Flags: cryptopay.FlagPaidPartial, ExpiresAt: now.Add(90 * time.Second)}
	s := newState(inv, now, view{c: &English})
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
	if s := newState(inv, now, view{c: &English}); s.URI != "bitcoin:bcrt1qexample?amount=0.001" || s.Remaining != "0.00000000" {
		t.Fatalf("paid in full: uri %q remaining %q", s.URI, s.Remaining)
	}
}

func TestTrimDecimals(t *testing.T) {
	for _, c := range []struct {
		in   string
		keep int
		want string
	}{
		{"65000.00000000", 2, "65000.00"}, {"65000.12345678", 2, "65000.12345678"}, {"65000.12300000", 2, "65000.123"},
		{"65000", 2, "65000"}, {"65000.00", 0, "65000"},
	} {
		if got := trimDecimals(c.in, c.keep); got != c.want {
			t.Errorf("trimDecimals(%s, %d) = %s, want %s", c.in, c.keep, got, c.want)
		}
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
