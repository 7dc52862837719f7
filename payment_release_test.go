package cryptopay

import (
	"errors"
	"math/big"
	"testing"
	"time"
)

// TestReleasePayment: a released payment's status comes from its chain
// facts, not from the operator's word; the held flag clears only when no
// held payment remains; anything but a held payment is refused unchanged,
// and a second release changes nothing.
func TestReleasePayment(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	held := func(id string, mut func(*Payment)) Payment {
		p := Payment{ID: id, TxID: "aa", Amount: big.NewInt(1000), Status: PaymentHeld}
		if mut != nil {
			mut(&p)
		}
		return p
	}
	mined := func(confs int64) func(*Payment) {
		return func(p *Payment) { p.BlockHash, p.BlockHeight, p.Confirmations = "bb", 100, confs }
	}
	cases := []struct {
		name      string
		payments  []Payment
		release   string
		want      PaymentStatus
		wantCode  Code
		wantFlags []string
	}{
		{"unconfirmed: pending", []Payment{held("pay_1", nil)}, "pay_1", PaymentPending, "", nil},
		{"mined below the tier: pending", []Payment{held("pay_1", mined(2))}, "pay_1", PaymentPending, "", nil},
		{"mined at the tier: confirmed", []Payment{held("pay_1", mined(3))}, "pay_1", PaymentConfirmed, "", nil},
		{"displaced by a conflict: conflicted, not counted", []Payment{held("pay_1", func(p *Payment) { p.ConflictTxID = "cc" })}, "pay_1", PaymentConflicted, "", nil},
		{"another held payment keeps the flag", []Payment{held("pay_1", nil), held("pay_2", nil)}, "pay_1", PaymentPending, "", []string{"held"}},
		{"not held: refused", []Payment{{ID: "pay_1", Amount: big.NewInt(1), Status: PaymentPending}}, "pay_1", "", CodeInvalidState, []string{"held"}},
		{"outside the window: refused", []Payment{{ID: "pay_1", Amount: big.NewInt(1), Status: PaymentOutsideWindow}}, "pay_1", "", CodeInvalidState, []string{"held"}},
		{"unknown payment", []Payment{held("pay_1", nil)}, "pay_9", "", CodeNotFound, []string{"held"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := &Invoice{ID: "inv_1", RequiredConfirmations: 3, Flags: FlagHeld, Payments: c.payments}
			before := append([]Payment(nil), inv.Payments...)
			p, changed, err := inv.ReleasePayment(c.release, "alice", now)
			if c.wantCode != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != c.wantCode || changed {
					t.Fatalf("ReleasePayment = %v, changed %v; want a %s error", err, changed, c.wantCode)
				}
				for i := range before {
					if inv.Payments[i].Status != before[i].Status || inv.Payments[i].ReleasedAt != nil {
						t.Fatalf("refused release changed payment %d: %+v", i, inv.Payments[i])
					}
				}
			} else {
				if err != nil || !changed {
					t.Fatalf("ReleasePayment = %v, changed %v", err, changed)
				}
				if p.Status != c.want || p.ReleasedBy != "alice" || p.ReleasedAt == nil || !p.ReleasedAt.Equal(now) {
					t.Fatalf("released payment %+v; want %s by alice at %s", p, c.want, now)
				}
				if (p.Status == PaymentConfirmed) != (p.ConfirmedAt != nil) {
					t.Fatalf("confirmed_at %v for status %s", p.ConfirmedAt, p.Status)
				}
				// A retry returns it as it is.
				again, changed, err := inv.ReleasePayment(c.release, "bob", now.Add(time.Hour))
				if err != nil || changed || again.ReleasedBy != "alice" {
					t.Fatalf("second release = %+v, changed %v, %v; want the first, unchanged", again, changed, err)
				}
			}
			if got := inv.Flags.Names(); len(got) != len(c.wantFlags) || len(got) > 0 && got[0] != c.wantFlags[0] {
				t.Fatalf("flags %v, want %v", got, c.wantFlags)
			}
		})
	}
}
