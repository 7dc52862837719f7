package watcher_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcrpc"
	"github.com/cryptopay/cryptopay/internal/bitcoin/btcsource"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/monitor"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// alertLog records the titles and texts of the alerts a watcher raised.
type alertLog struct {
	mu    sync.Mutex
	title []string
	text  []string
}

func (l *alertLog) add(_ context.Context, title, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.title, l.text = append(l.title, title), append(l.text, text)
}

// count returns how many alerts had title and the texts of those.
func (l *alertLog) count(title string) (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var texts []string
	for i, t := range l.title {
		if t == title {
			texts = append(texts, l.text[i])
		}
	}
	return len(texts), texts
}

// monitoredWatcher replaces the harness's watcher with one applying rules
// and recording its alerts.
func monitoredWatcher(h *harness, rules monitor.Rules) *alertLog {
	client, err := btcrpc.New(btcrpc.Config{URL: h.node.RPCURL(), User: h.node.RPCUser(), Password: h.node.RPCPassword(), Params: regtest.Params})
	if err != nil {
		h.t.Fatal(err)
	}
	rs, _ := rates.ParseStatic("BTC_USD=65000.00")
	log := &alertLog{}
	w := watcher.New(watcher.Config{
		DB: h.db, Outbox: outboxOn(h.db), Source: btcsource.New(client, cryptopay.NetworkBitcoinRegtest), Now: h.clock.now,
		PollInterval: time.Second, SafetyLimit: 30, Alert: log.add, Monitor: rules, Rates: rs,
	})
	h.svc.OnInvoiceCreated(func(inv *cryptopay.Invoice) { w.Watch(inv.Address, inv.MonitorUntil) })
	h.w = w
	return log
}

// TestBlockAfterRepeatedDoubleSpends double-spends payments from one
// sending address until the failed-payment rule blocks it (limit 2 here,
// 5 by default), then pays from it again: the payment is recorded but
// held, never credited, with a payment.held event, the invoice flagged
// held, an audit entry by "system" and alerts.
func TestBlockAfterRepeatedDoubleSpends(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db storage.DB) {
		h := newHarness(t, db, fundBlocks)
		alerts := monitoredWatcher(h, monitor.Rules{FailureLimit: 2})
		h.step()
		thief, _ := h.wallet.Address(999)
		var sender string
		for round := 1; round <= 3; round++ {
			inv := h.invoice("ds-"+string(rune('0'+round)), "0.001", 0)
			txid := h.pay(inv.Address, milliBTC, true)
			h.step()
			p := h.get(inv.ID).Payments[0]
			if p.FromAddress == "" || sender != "" && p.FromAddress != sender {
				t.Fatalf("round %d: payment from %q, want the wallet's one funding address %q", round, p.FromAddress, sender)
			}
			sender = p.FromAddress
			if _, _, err := h.wallet.Replace(h.ctx, h.node, txid, thief, milliBTC, regtest.Opts{}); err != nil {
				t.Fatal(err)
			}
			h.step()
			h.mine(1)
			h.step()
			if got := h.get(inv.ID).Payments[0].Status; got != cryptopay.PaymentDoubleSpent {
				t.Fatalf("round %d: payment %s, want double_spent", round, got)
			}
			_, err := db.GetBlockedAddress(h.ctx, cryptopay.NetworkBitcoinRegtest, sender)
			switch blocked := err == nil; {
			case round <= 2 && blocked:
				t.Fatalf("blocked after %d failures; the limit is 2", round)
			case round == 3 && !blocked:
				t.Fatalf("not blocked after 3 failures: %v", err)
			}
		}
		// The regtest wallet funds every payment from its mining address.
		if sender != h.wallet.MiningAddress() {
			t.Fatalf("sender %s is not the mining address %s", sender, h.wallet.MiningAddress())
		}
		b, err := db.GetBlockedAddress(h.ctx, cryptopay.NetworkBitcoinRegtest, sender)
		if err != nil || b.Failures != 3 || b.BlockedBy != "system" {
			t.Fatalf("block: %+v, %v; want 3 failures by system", b, err)
		}
		if n, texts := alerts.count("Sending address blocked"); n != 1 || !strings.Contains(texts[0], sender) {
			t.Fatalf("block alerts: %d %v; want one naming %s", n, texts, sender)
		}
		inv := h.get(h.invoice("probe", "0.001", 0).ID)
		entries, _, err := db.ListAuditEntries(h.ctx, storage.AuditFilter{StoreID: inv.StoreID, Action: monitor.AuditAddressBlocked})
		if err != nil || len(entries) != 1 || entries[0].Actor != "system" || entries[0].Target != sender {
			t.Fatalf("audit entries: %+v, %v; want one address.blocked by system", entries, err)
		}

		// A payment from the blocked address: recorded, held, never credited.
		h.pay(inv.Address, milliBTC, false)
		h.step()
		h.mine(3)
		h.step()
		got := h.get(inv.ID)
		wantState(t, got, cryptopay.StatusNew, "held")
		if len(got.Payments) != 1 || got.Payments[0].Status != cryptopay.PaymentHeld || got.Payments[0].Confirmations != 3 ||
			got.AmountPaid.Sign() != 0 || got.AmountConfirmed.Sign() != 0 {
			t.Fatalf("held payment: %+v, paid %s, confirmed %s", got.Payments, got.AmountPaid, got.AmountConfirmed)
		}
		wantEvents(t, h.events(inv), created, cryptopay.EventPaymentHeld)
		if n, texts := alerts.count("Payment from a blocked address held"); n != 1 || !strings.Contains(texts[0], inv.ID) {
			t.Fatalf("held alerts: %d %v", n, texts)
		}
	})
}

// TestHighValueAndUnusualActivityAlerts: a payment worth at least the
// threshold alerts when detected and again when its invoice settles; a
// payment below it does not; an invoice paid in more parts than allowed
// alerts once.
func TestHighValueAndUnusualActivityAlerts(t *testing.T) {
	h := newHarness(t, testdb.SQLite(t), fundBlocks)
	alerts := monitoredWatcher(h, monitor.Rules{HighValue: "5000.00", InvoicePayments: 1})
	h.step()
	big := h.invoice("big", "0.1", 0) // 6,500 USD at 65,000 USD/BTC
	small := h.invoice("small", "0.001", 0)
	h.pay(big.Address, 100*milliBTC, false)
	h.pay(small.Address, milliBTC/2, false)
	h.step()
	if n, texts := alerts.count("High-value payment"); n != 1 || !strings.Contains(texts[0], big.ID) || !strings.Contains(texts[0], "6500.00 USD") {
		t.Fatalf("high-value payment alerts: %d %v; want one for %s worth 6500.00 USD", n, texts, big.ID)
	}
	if n, _ := alerts.count("Unusual activity: many payments to one invoice"); n != 0 {
		t.Fatal("one payment per invoice raised a many-payments alert")
	}
	h.pay(small.Address, milliBTC/2, false)
	h.step()
	if n, texts := alerts.count("Unusual activity: many payments to one invoice"); n != 1 || !strings.Contains(texts[0], small.ID) {
		t.Fatalf("many-payments alerts: %d %v", n, texts)
	}
	h.mine(big.RequiredConfirmations)
	h.step()
	wantState(t, h.get(big.ID), cryptopay.StatusSettled)
	n, texts := alerts.count("High-value invoice settled")
	if n != 1 || !strings.Contains(texts[0], big.ID) || !strings.Contains(texts[0], "order big") {
		t.Fatalf("high-value settlement alerts: %d %v", n, texts)
	}
	if slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, small.ID) }) {
		t.Fatal("a small invoice raised a high-value alert")
	}
	// Each alert opened a review with its evidence: the high-value
	// payment and settlement on big, the many-payments one on small.
	reviews, _, err := h.db.ListReviews(h.ctx, storage.ReviewFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{}
	for _, r := range reviews {
		rules[r.Rule] = r.InvoiceID
		if r.Status != storage.ReviewOpen || r.Evidence.Address == "" || len(r.Evidence.Payments) == 0 || r.Evidence.Payments[0].TxID == "" {
			t.Errorf("review %s lacks evidence: %+v", r.ID, r)
		}
	}
	want := map[string]string{"high_value_payment": big.ID, "high_value_invoice_settled": big.ID, "unusual_activity": small.ID}
	if len(reviews) != 3 || fmt.Sprint(rules) != fmt.Sprint(want) {
		t.Fatalf("reviews by rule = %v (%d), want %v", rules, len(reviews), want)
	}
	if got := reviews[len(reviews)-1].Evidence.Payments[0].Amount; got != "0.10000000" {
		t.Fatalf("evidence amount of the first review = %s, want 0.10000000", got)
	}
}
