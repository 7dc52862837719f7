package cryptopay

import (
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInvoiceAdvance(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	newInv := func(status Status, flags Flag) *Invoice {
		return &Invoice{
			ID: "inv_x", CryptoDue: big.NewInt(100_000), AmountPaid: new(big.Int), AmountConfirmed: new(big.Int),
			Status: status, Flags: flags, RequiredConfirmations: 3,
			ExpiresAt: t0.Add(15 * time.Minute), MonitorUntil: t0.Add(24 * time.Hour),
		}
	}
	pay := func(amount int64, st PaymentStatus, seen time.Time) Payment {
		return Payment{Amount: big.NewInt(amount), Status: st, SeenAt: seen}
	}
	early := t0.Add(time.Minute)
	cases := []struct {
		name       string
		status     Status
		flags      Flag
		payments   []Payment
		now        time.Time
		tolerance  int
		wantStatus Status
		wantFlags  []string
		wantEvents []EventType
	}{
		{"nothing yet", StatusNew, 0, nil, early, 0, StatusNew, nil, nil},
		{"seen in full, unconfirmed", StatusNew, 0, []Payment{pay(100_000, PaymentPending, early)}, early, 0,
			StatusProcessing, nil, []EventType{EventInvoiceProcessing}},
		{"confirmed in full", StatusProcessing, 0, []Payment{pay(100_000, PaymentConfirmed, early)}, early, 0,
			StatusSettled, nil, []EventType{EventInvoiceSettled}},
		{"seen and confirmed in one step", StatusNew, 0, []Payment{pay(100_000, PaymentConfirmed, early)}, early, 0,
			StatusSettled, nil, []EventType{EventInvoiceSettled}},
		{"partial", StatusNew, 0, []Payment{pay(40_000, PaymentPending, early)}, early, 0,
			StatusNew, []string{"paid_partial"}, []EventType{EventInvoicePaidPartial}},
		{"two partials add up", StatusNew, FlagPaidPartial, []Payment{pay(40_000, PaymentConfirmed, early), pay(60_000, PaymentPending, early)}, early, 0,
			StatusProcessing, nil, []EventType{EventInvoiceProcessing}},
		{"within tolerance settles", StatusProcessing, 0, []Payment{pay(99_500, PaymentConfirmed, early)}, early, 100,
			StatusSettled, nil, []EventType{EventInvoiceSettled}},
		{"outside tolerance stays partial", StatusNew, 0, []Payment{pay(98_999, PaymentConfirmed, early)}, early, 100,
			StatusNew, []string{"paid_partial"}, []EventType{EventInvoicePaidPartial}},
		{"overpaid settles flagged", StatusProcessing, 0, []Payment{pay(150_000, PaymentConfirmed, early)}, early, 0,
			StatusSettled, []string{"paid_over"}, []EventType{EventInvoicePaidOver, EventInvoiceSettled}},
		{"double spent is never credited", StatusProcessing, 0, []Payment{pay(100_000, PaymentDoubleSpent, early)}, early, 0,
			StatusNew, []string{"double_spent"}, nil},
		{"held payment is never credited", StatusNew, 0, []Payment{pay(100_000, PaymentHeld, early)}, early, 0,
			StatusNew, []string{"held"}, nil},
		{"held beside a good payment counts only the good one", StatusNew, 0, []Payment{pay(100_000, PaymentHeld, early), pay(40_000, PaymentConfirmed, early)}, early, 0,
			StatusNew, []string{"paid_partial", "held"}, []EventType{EventInvoicePaidPartial}},
		{"reorg after settlement is flagged", StatusSettled, 0, []Payment{pay(100_000, PaymentPending, early)}, early, 0,
			StatusProcessing, []string{"reorged"}, []EventType{EventInvoiceProcessing}},
		{"unpaid at expiry", StatusNew, 0, nil, t0.Add(15 * time.Minute), 0, StatusExpired, nil, []EventType{EventInvoiceExpired}},
		{"partly paid at expiry", StatusNew, FlagPaidPartial, []Payment{pay(10, PaymentConfirmed, early)}, t0.Add(time.Hour), 0,
			StatusExpired, []string{"paid_partial"}, []EventType{EventInvoiceExpired}},
		{"paid late stays expired", StatusExpired, 0, []Payment{pay(100_000, PaymentConfirmed, t0.Add(time.Hour))}, t0.Add(time.Hour), 0,
			StatusExpired, []string{"paid_late"}, []EventType{EventInvoicePaidLate}},
		{"processing past the window is invalid", StatusProcessing, 0, []Payment{pay(100_000, PaymentPending, early)}, t0.Add(25 * time.Hour), 0,
			StatusInvalid, nil, []EventType{EventInvoiceInvalid}},
		{"processing survives expiry", StatusProcessing, 0, []Payment{pay(100_000, PaymentPending, early)}, t0.Add(time.Hour), 0,
			StatusProcessing, nil, nil},
		{"settled is terminal for expiry", StatusSettled, 0, []Payment{pay(100_000, PaymentConfirmed, early)}, t0.Add(48 * time.Hour), 0,
			StatusSettled, nil, nil},
		{"conflicted in the mempool is not counted", StatusProcessing, 0, []Payment{pay(100_000, PaymentConflicted, early)}, early, 0,
			StatusNew, nil, nil},
		{"a replacement paying as much counts, the replaced one not, no double_spent", StatusProcessing, 0,
			[]Payment{pay(100_000, PaymentReplaced, early), pay(100_000, PaymentPending, early)}, early, 0,
			StatusProcessing, nil, nil},
		{"reinstated payment settles, the double_spent flag stays as history", StatusNew, FlagDoubleSpent,
			[]Payment{pay(100_000, PaymentConfirmed, early)}, early, 0, StatusSettled, []string{"double_spent"}, []EventType{EventInvoiceSettled}},
		{"late money alone never makes a new invoice processing", StatusNew, 0, []Payment{pay(100_000, PaymentPending, t0.Add(time.Hour))}, t0.Add(time.Hour), 0,
			StatusExpired, []string{"paid_late"}, []EventType{EventInvoicePaidLate, EventInvoiceExpired}},
		{"money outside the window is recorded, flagged, not counted", StatusExpired, 0, []Payment{pay(100_000, PaymentOutsideWindow, t0.Add(30*time.Hour))}, t0.Add(30 * time.Hour), 0,
			StatusExpired, []string{"outside_window"}, nil},
		{"on-time money confirming after the window settles an invalid invoice", StatusInvalid, 0, []Payment{pay(100_000, PaymentConfirmed, early)}, t0.Add(30 * time.Hour), 0,
			StatusSettled, []string{"confirmed_late"}, []EventType{EventInvoiceSettled}},
		{"invalid stays invalid while unconfirmed", StatusInvalid, 0, []Payment{pay(100_000, PaymentPending, early)}, t0.Add(30 * time.Hour), 0,
			StatusInvalid, nil, nil},
		{"a marked invoice keeps its status", StatusInvalid, FlagMarked, []Payment{pay(100_000, PaymentConfirmed, early)}, t0.Add(30 * time.Hour), 0,
			StatusInvalid, []string{"marked"}, nil},
		{"a marked invoice never expires", StatusNew, FlagMarked, nil, t0.Add(30 * time.Hour), 0,
			StatusNew, []string{"marked"}, nil},
		{"paid money taken away after expiry expires the invoice", StatusProcessing, 0, []Payment{pay(100_000, PaymentDoubleSpent, early)}, t0.Add(time.Hour), 0,
			StatusExpired, []string{"double_spent"}, []EventType{EventInvoiceExpired}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := newInv(tc.status, tc.flags)
			if tc.status == StatusSettled {
				inv.SettledAt = &early
			}
			changes := inv.Advance(tc.payments, tc.now, tc.tolerance)
			var got []EventType
			for _, c := range changes {
				got = append(got, c.Type)
			}
			if inv.Status != tc.wantStatus {
				t.Errorf("status = %s, want %s", inv.Status, tc.wantStatus)
			}
			if names := inv.Flags.Names(); !slices.Equal(names, append([]string{}, tc.wantFlags...)) {
				t.Errorf("flags = %v, want %v", names, tc.wantFlags)
			}
			if !slices.Equal(got, tc.wantEvents) {
				t.Errorf("events = %v, want %v", got, tc.wantEvents)
			}
			if (inv.Status == StatusSettled) != (inv.SettledAt != nil) {
				t.Errorf("settled_at = %v with status %s", inv.SettledAt, inv.Status)
			}
			// Advancing again without a change emits nothing: no event is
			// ever duplicated.
			if again := inv.Advance(tc.payments, tc.now, tc.tolerance); len(again) != 0 {
				t.Errorf("second Advance emitted %v", again)
			}
		})
	}
}

// TestResettledEvent: a second invoice.settled after a real reversal says
// so, the first does not.
func TestResettledEvent(t *testing.T) {
	inv := &Invoice{ID: "inv_x", Currency: "BTC", Asset: "BTC", Amount: big.NewInt(1), CryptoDue: big.NewInt(1), AmountPaid: big.NewInt(1),
		Status: StatusSettled}
	first := NewInvoiceEvent(EventInvoiceSettled, inv, nil, time.Now())
	inv.Flags |= FlagReorged
	again := NewInvoiceEvent(EventInvoiceSettled, inv, nil, time.Now())
	if strings.Contains(string(first.Data), "resettled") || !strings.Contains(string(again.Data), `"resettled":true`) {
		t.Fatalf("first %s\nagain %s", first.Data, again.Data)
	}
}

func TestParseAmount(t *testing.T) {
	cases := []struct {
		name, in string
		decimals int
		want     string // base units, or "" for an error
	}{
		{"whole", "100", 2, "10000"},
		{"two decimals", "100.00", 2, "10000"},
		{"one decimal", "0.5", 2, "50"},
		{"satoshi", "0.00000001", 8, "1"},
		{"beyond int64", "123456789012345678901234.5", 2, "12345678901234567890123450"},
		{"zero", "0", 2, ""},
		{"zero decimals", "0.00", 2, ""},
		{"negative", "-1", 2, ""},
		{"plus", "+1", 2, ""},
		{"too many decimals", "1.001", 2, ""},
		{"exponent", "1e3", 2, ""},
		{"leading dot", ".5", 2, ""},
		{"trailing dot", "5.", 2, ""},
		{"spaces", " 5", 2, ""},
		{"comma", "1,00", 2, ""},
		{"empty", "", 2, ""},
		{"two dots", "1.0.0", 2, ""},
		{"no decimals allowed", "1.5", 0, ""},
		{"huge", "1000000000000000000000000000000000", 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAmount("amount", tc.in, tc.decimals)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseAmount(%q) = %s, want an error", tc.in, got)
				}
				if e, ok := err.(*Error); !ok || e.Param != "amount" || e.Code != CodeInvalid {
					t.Fatalf("error %v does not name the field", err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("ParseAmount(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1", "0.01", "100.00", "1e5", "-1", "", "00.10", "9999999999999999999999"} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, s string, decimals int) {
		decimals = ((decimals % 19) + 19) % 19
		v, err := ParseAmount("amount", s, decimals)
		if err != nil {
			return
		}
		if v.Sign() <= 0 {
			t.Fatalf("accepted non-positive %q", s)
		}
		// Formatting and parsing again is the identity.
		again, err := ParseAmount("amount", FormatAmount(v, decimals), decimals)
		if err != nil || again.Cmp(v) != 0 {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}

func TestIDs(t *testing.T) {
	now := time.Now()
	a := NewID(PrefixInvoice, now)
	b := NewID(PrefixInvoice, now.Add(time.Millisecond))
	if !ValidID(PrefixInvoice, a) || !ValidID(PrefixInvoice, b) {
		t.Fatalf("generated ids are not valid: %s %s", a, b)
	}
	if a >= b {
		t.Errorf("ids are not time-ordered: %s >= %s", a, b)
	}
	if ValidID(PrefixEvent, a) || ValidID(PrefixInvoice, "inv_") || ValidID(PrefixInvoice, a+"0") || ValidID(PrefixInvoice, "inv_"+string(make([]byte, 26))) {
		t.Error("malformed ids accepted")
	}
}

func TestIDsStrictlyIncreaseWithinAMillisecond(t *testing.T) {
	now := time.Now()
	prev := NewID(PrefixEvent, now)
	for range 10000 {
		next := NewID(PrefixEvent, now)
		if next <= prev || !ValidID(PrefixEvent, next) {
			t.Fatalf("id %s after %s", next, prev)
		}
		prev = next
	}
	// A clock that steps back does not reorder ids either.
	if back := NewID(PrefixEvent, now.Add(-time.Second)); back <= prev {
		t.Fatalf("id %s after a clock step back is not after %s", back, prev)
	}
}

func FuzzValidID(f *testing.F) {
	f.Add("inv_01h00000000000000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		_ = ValidID(PrefixInvoice, s)
	})
}

func TestAPIKeySecret(t *testing.T) {
	for _, live := range []bool{true, false} {
		s := NewAPIKeySecret(live)
		mode, ok := ParseAPIKeySecret(s)
		if !ok || mode != live {
			t.Fatalf("ParseAPIKeySecret(%q) = %v, %v", s, mode, ok)
		}
		// Any single-character typo is caught by the checksum.
		for i := 8; i < len(s); i++ {
			b := []byte(s)
			b[i] = map[bool]byte{true: 'A', false: 'B'}[b[i] != 'A']
			if _, ok := ParseAPIKeySecret(string(b)); ok {
				t.Fatalf("typo at %d accepted: %s", i, b)
			}
		}
	}
	for _, bad := range []string{"", "cp_live_", "sk_live_abc", "cp_live_" + string(make([]byte, 38))} {
		if _, ok := ParseAPIKeySecret(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseAPIKeySecret(f *testing.F) {
	f.Add(NewAPIKeySecret(true))
	f.Add("cp_test_x")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseAPIKeySecret(s) })
}

func TestCryptoDue(t *testing.T) {
	usd, _ := LookupCurrency("USD")
	btc, _ := LookupCurrency("BTC")
	rate := new(big.Rat).SetFrac64(6500000, 100) // 65000.00
	// 100.00 USD at 65000 = 0.00153846153… BTC → rounds up to 153847 sat.
	if got := CryptoDue(big.NewInt(10000), usd, rate, btc); got.Int64() != 153847 {
		t.Errorf("CryptoDue = %d, want 153847", got)
	}
	if got := FiatValue(big.NewInt(153847), btc, rate, usd); got.Int64() != 10000 {
		t.Errorf("FiatValue = %d, want 10000", got)
	}
}

func TestParseConfirmationPolicy(t *testing.T) {
	good, err := ParseConfirmationPolicy("confirmations", "USD", "100.00:3,1000.00:12,24", "20.00")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		value *big.Int
		want  int
	}{
		{big.NewInt(19_99), 0}, {big.NewInt(20_00), 3}, {big.NewInt(99_99), 3}, {big.NewInt(100_00), 12},
		{big.NewInt(999_99), 12}, {big.NewInt(1000_00), 24}, {nil, 24},
	}
	for _, c := range cases {
		if got := good.Required(c.value); got != c.want {
			t.Errorf("Required(%v) = %d, want %d", c.value, got, c.want)
		}
	}
	if d := DefaultConfirmationPolicy(); d.Required(big.NewInt(5)) != 3 || d.ZeroConfBelow != nil {
		t.Error("the default policy must not settle unconfirmed payments")
	}
	bad := []struct{ name, cur, spec, zero string }{
		{"crypto currency", "BTC", "24", ""},
		{"unknown currency", "XXX", "24", ""},
		{"no final count", "USD", "100.00:3", ""},
		{"falling bounds", "USD", "1000.00:3,100.00:12,24", ""},
		{"fewer confirmations for more value", "USD", "100.00:12,1000.00:3,24", ""},
		{"final below tiers", "USD", "100.00:3,1", ""},
		{"zero confirmations", "USD", "100.00:0,24", ""},
		{"garbage", "USD", "lots", ""},
		{"too many decimals", "USD", "100.001:3,24", ""},
		{"bound missing mid-list", "USD", "3,1000.00:12,24", ""},
		{"zero-conf above first tier", "USD", "100.00:3,24", "150.00"},
		{"zero-conf without tiers", "USD", "6", "1.00"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := ParseConfirmationPolicy("confirmations", b.cur, b.spec, b.zero)
			if e, ok := err.(*Error); !ok || e.Code != CodeInvalid || e.Param == "" {
				t.Fatalf("got %v, want an invalid_request naming the parameter", err)
			}
		})
	}
}

func FuzzParseConfirmationPolicy(f *testing.F) {
	f.Add("USD", "100.00:3,1000.00:12,24", "20.00")
	f.Add("EUR", "6", "")
	f.Add("JPY", "10000:1,2", "5000")
	f.Fuzz(func(t *testing.T, cur, spec, zero string) {
		p, err := ParseConfirmationPolicy("confirmations", cur, spec, zero)
		if err != nil {
			return
		}
		// Any accepted policy is monotonic: more value never needs fewer
		// confirmations, and zero-conf only below the first tier.
		prev := -1
		for _, tier := range p.Tiers {
			below := new(big.Int).Sub(tier.Below, big.NewInt(1))
			n := p.Required(below)
			if n < prev {
				t.Fatalf("%q: %d confirmations below %s after %d", spec, n, tier.Below, prev)
			}
			prev = n
		}
		if p.Above < prev {
			t.Fatalf("%q: above-tier %d under %d", spec, p.Above, prev)
		}
		if p.ZeroConfBelow != nil && (len(p.Tiers) == 0 || p.ZeroConfBelow.Cmp(p.Tiers[0].Below) > 0) {
			t.Fatalf("zero-conf bound %s above the first tier", p.ZeroConfBelow)
		}
	})
}

// idBits decodes an id's 26 characters back into its two 64-bit halves.
func idBits(t *testing.T, id string) (hi, lo uint64) {
	t.Helper()
	_, body, _ := strings.Cut(id, "_")
	for i := 0; i < len(body); i++ {
		v := uint64(strings.IndexByte(crockford, body[i]))
		hi = hi<<5 | lo>>59
		lo = lo<<5 | v
	}
	return hi, lo
}

// TestIDsUnguessableWithinAMillisecond: knowing one id does not bring the
// next one (same process, same millisecond) within reach of a search. The
// low 64 bits of neighbours are independent: a guesser who knows one has
// no better start than chance, so two neighbours' tails must not lie
// within 2^48 of each other (probability 2^-15 per pair for independent
// tails, so at most a few of 2,000 pairs).
func TestIDsUnguessableWithinAMillisecond(t *testing.T) {
	now := time.Now()
	_, prev := idBits(t, NewID(PrefixInvoice, now))
	near, ones := 0, 0
	for range 2000 {
		_, lo := idBits(t, NewID(PrefixInvoice, now))
		d := lo - prev
		if lo < prev {
			d = prev - lo
		}
		if d < 1<<48 {
			near++
		}
		ones += bits.OnesCount64(lo)
		prev = lo
	}
	if near > 5 {
		t.Errorf("%d of 2000 consecutive ids have random tails within 2^48 of the previous one: the next id is guessable from the last", near)
	}
	if mean := float64(ones) / 2000; mean < 30 || mean > 34 {
		t.Errorf("random tails have %.1f bits set on average, want about 32", mean)
	}
}
