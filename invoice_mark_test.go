package cryptopay

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"
)

// TestInvoiceMark: every state can be marked settled or invalid except the
// one it has; a mark flags the invoice, sets or clears settled_at and
// keeps the amounts; the no-op is refused with invalid_state and changes
// nothing.
func TestInvoiceMark(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	settledAt := t0.Add(-time.Hour)
	all := []Status{StatusNew, StatusProcessing, StatusSettled, StatusExpired, StatusInvalid}
	for _, to := range []Status{StatusSettled, StatusInvalid} {
		for _, from := range all {
			t.Run(string(from)+" to "+string(to), func(t *testing.T) {
				inv := &Invoice{ID: "inv_x", Status: from, Flags: FlagPaidPartial, CryptoDue: big.NewInt(100),
					AmountPaid: big.NewInt(40), AmountConfirmed: big.NewInt(40)}
				if from == StatusSettled {
					inv.SettledAt = &settledAt
				}
				before := *inv
				typ, err := inv.Mark(to, t0)
				if from == to {
					var e *Error
					if !errors.As(err, &e) || e.Code != CodeInvalidState {
						t.Fatalf("Mark = %v, want a %s error", err, CodeInvalidState)
					}
					if inv.Status != before.Status || inv.Flags != before.Flags || inv.SettledAt != before.SettledAt {
						t.Errorf("a refused mark changed the invoice: %+v", inv)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				wantType := map[Status]EventType{StatusSettled: EventInvoiceSettled, StatusInvalid: EventInvoiceInvalid}[to]
				if typ != wantType || inv.Status != to || inv.Flags != FlagPaidPartial|FlagMarked || !inv.Marked() {
					t.Errorf("Mark = %s, status %s, flags %v; want %s, %s, paid_partial,marked", typ, inv.Status, inv.Flags, wantType, to)
				}
				if (to == StatusSettled) != (inv.SettledAt != nil) || (inv.SettledAt != nil && !inv.SettledAt.Equal(t0)) {
					t.Errorf("settled_at = %v after marking %s", inv.SettledAt, to)
				}
				if inv.AmountPaid.Int64() != 40 || inv.AmountConfirmed.Int64() != 40 {
					t.Errorf("amounts changed: paid %s, confirmed %s", inv.AmountPaid, inv.AmountConfirmed)
				}
			})
		}
	}
}

// TestMarkedInvoiceKeepsItsState: after a mark, the chain's payments move
// the amounts but never the state, and call for no invoice event: an
// underpaid invoice marked settled is not un-settled by the next block,
// and one marked invalid (refunded) is not settled by a late confirmation.
func TestMarkedInvoiceKeepsItsState(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	pay := func(amount int64, st PaymentStatus) Payment {
		return Payment{Amount: big.NewInt(amount), Status: st, SeenAt: t0.Add(time.Minute)}
	}
	cases := []struct {
		name          string
		from, to      Status
		payments      []Payment
		now           time.Time
		paid, credits int64
	}{
		{"underpaid, marked settled, past the window", StatusNew, StatusSettled,
			[]Payment{pay(40, PaymentConfirmed), pay(5, PaymentPending)}, t0.Add(48 * time.Hour), 45, 40},
		{"marked settled, its payment double spent", StatusProcessing, StatusSettled,
			[]Payment{pay(100, PaymentDoubleSpent)}, t0.Add(time.Minute), 0, 0},
		{"refunded: marked invalid, then confirmed", StatusProcessing, StatusInvalid,
			[]Payment{pay(100, PaymentConfirmed)}, t0.Add(time.Minute), 100, 100},
		{"marked invalid while new, then paid in full", StatusNew, StatusInvalid,
			[]Payment{pay(100, PaymentPending), pay(7, PaymentHeld)}, t0.Add(time.Minute), 100, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := &Invoice{ID: "inv_x", Status: tc.from, CryptoDue: big.NewInt(100), AmountPaid: new(big.Int),
				AmountConfirmed: new(big.Int), RequiredConfirmations: 1,
				ExpiresAt: t0.Add(15 * time.Minute), MonitorUntil: t0.Add(24 * time.Hour)}
			if _, err := inv.Mark(tc.to, t0); err != nil {
				t.Fatal(err)
			}
			settledAt, flags := inv.SettledAt, inv.Flags
			changes := inv.Advance(tc.payments, tc.now, 0)
			if inv.Status != tc.to || len(changes) != 0 {
				t.Errorf("after Advance: status %s, changes %v; want %s and none", inv.Status, changes, tc.to)
			}
			// Flags record what the payments did (double spent, held,
			// partly paid); none that the mark set is dropped.
			if inv.SettledAt != settledAt || inv.Flags&flags != flags {
				t.Errorf("after Advance: settled_at %v, flags %v; want %v, at least %v", inv.SettledAt, inv.Flags, settledAt, flags)
			}
			if inv.AmountPaid.Int64() != tc.paid || inv.AmountConfirmed.Int64() != tc.credits {
				t.Errorf("amounts paid %s, confirmed %s; want %d, %d", inv.AmountPaid, inv.AmountConfirmed, tc.paid, tc.credits)
			}
		})
	}
}

// TestMarkEventData: a mark's event carries marked and the reason beside
// the usual invoice data; other invoice events carry neither.
func TestMarkEventData(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	inv := &Invoice{ID: "inv_x", StoreID: "sto_x", Amount: big.NewInt(1000), Currency: "USD", Asset: "BTC",
		CryptoDue: big.NewInt(100), AmountPaid: big.NewInt(90), Status: StatusSettled, Flags: FlagMarked}
	var d map[string]any
	ev := NewMarkEvent(EventInvoiceSettled, inv, "paid the rest in cash", now)
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventInvoiceSettled || ev.InvoiceID != "inv_x" || d["marked"] != true ||
		d["reason"] != "paid the rest in cash" || d["status"] != "settled" || d["amount_paid"] != "0.00000090" {
		t.Errorf("mark event %s: %v", ev.Type, d)
	}
	d = nil
	plain := NewInvoiceEvent(EventInvoiceSettled, inv, nil, now)
	if err := json.Unmarshal(plain.Data, &d); err != nil {
		t.Fatal(err)
	}
	if _, ok := d["marked"]; ok {
		t.Errorf("an event not from a mark has marked: %v", d)
	}
	if _, ok := d["reason"]; ok {
		t.Errorf("an event not from a mark has a reason: %v", d)
	}
}
