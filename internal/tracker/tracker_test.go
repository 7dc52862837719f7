package tracker

import (
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/google/go-cmp/cmp"
)

type env struct {
	tr    *Tracker
	watch *WatchSet
	cfg   Config
}

type step struct {
	do    func(*env) ([]Event, error)
	want  []string
	err   error
	check func(*testing.T, *Tracker)
}

func connect(b chain.Block) step {
	return step{do: func(e *env) ([]Event, error) { return e.tr.Connect(b) }}
}

func disconnect(height int64, hash string) step {
	return step{do: func(e *env) ([]Event, error) { return e.tr.Disconnect(ref(height, hash)) }}
}

func mempool(tx chain.Tx) step {
	return step{do: func(e *env) ([]Event, error) { return e.tr.Mempool(tx) }}
}

// restart snapshots the tracker the way the watcher persists it and
// restores the snapshot into a fresh tracker.
func restart() step {
	return step{do: func(e *env) ([]Event, error) {
		fresh := New(e.cfg, e.watch)
		err := fresh.Restore(e.tr.Recent(), e.tr.Payments(), e.tr.Conflicts())
		e.tr = fresh
		return nil, err
	}}
}

func restoreWith(recent []chain.BlockRef, pays []Payment) step {
	return step{do: func(e *env) ([]Event, error) { return nil, e.tr.Restore(recent, pays, nil) }}
}

func forget(txid string, index uint32, unwatch chain.Key) step {
	return step{do: func(e *env) ([]Event, error) {
		e.tr.Forget(chain.Outpoint{TxID: txid, Index: index})
		e.watch.Remove(unwatch)
		return nil, nil
	}}
}

func listed(ids ...string) step {
	return step{do: func(e *env) ([]Event, error) { return e.tr.MempoolListed(ids) }}
}

func (s step) wants(events ...string) step { s.want = events; return s }
func (s step) fails(err error) step        { s.err = err; return s }
func (s step) then(f func(*testing.T, *Tracker)) step {
	s.check = f
	return s
}

func tracked(want ...string) func(*testing.T, *Tracker) {
	return func(t *testing.T, tr *Tracker) {
		t.Helper()
		var got []string
		for _, p := range tr.Payments() {
			s := p.Outpoint.TxID + ":" + string(rune('0'+p.Outpoint.Index)) + " " + p.Amount.String()
			if p.DoubleSpentBy != "" {
				s += " double spent by " + p.DoubleSpentBy
			}
			if p.ConflictedBy != "" {
				s += " conflicted by " + p.ConflictedBy
			}
			got = append(got, s)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("tracked payments (-want +got):\n%s", diff)
		}
	}
}

var (
	k1, k2, k3 = key(1), key(2), key(3)
	payA       = mktx("A", []string{"f1"}, out(0, k1, 5000))
)

type trackerCase struct {
	name  string
	limit int
	steps []step
}

var trackerCases = []trackerCase{
	{name: "pay and confirm to 3", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		connect(blk(101, "a101", "a100", payA)).wants("confirmations_changed A:0 0->1 @a101"),
		connect(blk(102, "a102", "a101")).wants("confirmations_changed A:0 1->2 @a101"),
		connect(blk(103, "a103", "a102")).wants("confirmations_changed A:0 2->3 @a101"),
	}},
	{name: "payment first seen in a block, unwatched outputs ignored", steps: []step{
		connect(blk(100, "a100", "a99")),
		connect(blk(101, "a101", "a100",
			mktx("A", []string{"f1"}, out(0, key(9), 1), out(1, k1, 5000)),
			mktx("B", []string{"f2"}, out(0, key(8), 7)))).wants("payment_seen A:1 0->1 @a101"),
	}},
	{name: "two payments to one key are two payments", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(mktx("A", []string{"f1"}, out(0, k1, 1000), out(1, k1, 2000))).
			wants("payment_seen A:0 0->0", "payment_seen A:1 0->0"),
		mempool(mktx("B", []string{"f2"}, out(0, k1, 3000))).wants("payment_seen B:0 0->0"),
		connect(blk(101, "a101", "a100",
			mktx("B", []string{"f2"}, out(0, k1, 3000)),
			mktx("A", []string{"f1"}, out(0, k1, 1000), out(1, k1, 2000)))).
			wants("confirmations_changed B:0 0->1 @a101", "confirmations_changed A:0 0->1 @a101", "confirmations_changed A:1 0->1 @a101").
			then(tracked("A:0 1000", "A:1 2000", "B:0 3000")),
	}},
	{name: "reorg before the threshold", steps: []step{
		connect(blk(100, "a100", "a99")),
		connect(blk(101, "a101", "a100", payA)).wants("payment_seen A:0 0->1 @a101"),
		connect(blk(102, "a102", "a101")).wants("confirmations_changed A:0 1->2 @a101"),
		disconnect(102, "a102").wants("confirmations_changed A:0 2->1 @a101"),
		disconnect(101, "a101").wants("reorged_out A:0 1->0"),
		connect(blk(101, "b101", "a100")),
		connect(blk(102, "b102", "b101", payA)).wants("confirmations_changed A:0 0->1 @b102"),
		connect(blk(103, "b103", "b102")).wants("confirmations_changed A:0 1->2 @b102"),
	}},
	{name: "reorg after the threshold, then double spent in the new branch", limit: 6, steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		connect(blk(101, "a101", "a100", payA)).wants("confirmations_changed A:0 0->1 @a101"),
		connect(blk(102, "a102", "a101")).wants("confirmations_changed A:0 1->2 @a101"),
		connect(blk(103, "a103", "a102")).wants("confirmations_changed A:0 2->3 @a101"),
		disconnect(103, "a103").wants("confirmations_changed A:0 3->2 @a101"),
		disconnect(102, "a102").wants("confirmations_changed A:0 2->1 @a101"),
		disconnect(101, "a101").wants("reorged_out A:0 1->0"),
		connect(blk(101, "b101", "a100", mktx("C", []string{"f1"}))).wants("double_spent A:0 0->0 by C"),
		connect(blk(102, "b102", "b101")),
		disconnect(102, "b102"),
		// The conflict goes back to the mempool: A is only conflicted now.
		disconnect(101, "b101").wants("conflicted A:0 0->0 by C"),
		// Double spent holds only while the conflict is in the best chain:
		// a later branch mining A brings the payment back.
		connect(blk(101, "c101", "a100", payA)).wants("reinstated A:0 0->1 @c101").then(tracked("A:0 5000")),
	}},
	{name: "conflict reorged out and the original mined on the winning branch", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		connect(blk(101, "b101", "a100", mktx("C", []string{"f1"}, out(0, key(9), 4000)))).wants("double_spent A:0 0->0 by C"),
		connect(blk(102, "b102", "b101")),
		disconnect(102, "b102"),
		disconnect(101, "b101").wants("conflicted A:0 0->0 by C"),
		connect(blk(101, "c101", "a100", payA)).wants("reinstated A:0 0->1 @c101"),
		connect(blk(102, "c102", "c101")).wants("confirmations_changed A:0 1->2 @c101").then(tracked("A:0 5000")),
	}},
	{name: "a replaced payment seen again in the mempool comes back", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		mempool(mktx("R", []string{"f1"}, out(0, key(9), 4800))).wants("conflicted A:0 0->0 by R"),
		mempool(payA).wants("reinstated A:0 0->0"),
		restart(),
		connect(blk(101, "a101", "a100", mktx("R", []string{"f1"}, out(0, key(9), 4800)))).wants("double_spent A:0 0->0 by R"),
	}},
	{name: "final at the safety limit", limit: 3, steps: []step{
		connect(blk(100, "a100", "a99")),
		connect(blk(101, "a101", "a100", payA)).wants("payment_seen A:0 0->1 @a101"),
		connect(blk(102, "a102", "a101")).wants("confirmations_changed A:0 1->2 @a101"),
		connect(blk(103, "a103", "a102")).wants("final A:0 2->3 @a101").then(tracked()),
		connect(blk(104, "a104", "a103")),
		disconnect(104, "a104"),
		disconnect(103, "a103"),
		disconnect(102, "a102").fails(ErrReorgTooDeep),
	}},
	{name: "safety limit 1 makes a mined payment final at once", limit: 1, steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		connect(blk(101, "a101", "a100", payA)).wants("final A:0 0->1 @a101").then(tracked()),
		disconnect(101, "a101").fails(ErrReorgTooDeep),
	}},
	{name: "deep reorg past the limit halts until restore", limit: 3, steps: []step{
		connect(blk(100, "a100", "a99")),
		connect(blk(101, "a101", "a100")),
		connect(blk(102, "a102", "a101", payA)).wants("payment_seen A:0 0->1 @a102"),
		connect(blk(103, "a103", "a102")).wants("confirmations_changed A:0 1->2 @a102"),
		disconnect(103, "a103").wants("confirmations_changed A:0 2->1 @a102"),
		disconnect(102, "a102").wants("reorged_out A:0 1->0"),
		disconnect(101, "a101").fails(ErrReorgTooDeep),
		connect(blk(101, "b101", "a100")).fails(ErrHalted),
		disconnect(101, "a101").fails(ErrHalted),
		mempool(payA).fails(ErrHalted).then(func(t *testing.T, tr *Tracker) {
			if !tr.Halted() {
				t.Error("Halted() = false after ErrReorgTooDeep")
			}
		}),
		restoreWith([]chain.BlockRef{ref(105, "b105")}, []Payment{{
			Outpoint: chain.Outpoint{TxID: "A"}, Key: k1, Amount: big.NewInt(5000), TxSpends: spends("f1"), Seen: 1,
		}}),
		connect(blk(106, "b106", "b105", payA)).wants("confirmations_changed A:0 0->1 @b106"),
	}},
	{name: "replacement in the mempool (RBF) conflicts, a mined one double spends", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		mempool(mktx("A2", []string{"f1"}, out(0, k1, 4900))).
			wants("conflicted A:0 0->0 by A2", "payment_seen A2:0 0->0"),
		mempool(mktx("R", []string{"f1"}, out(0, key(9), 4800))).wants("conflicted A:0 0->0 by R", "conflicted A2:0 0->0 by R"),
		connect(blk(101, "a101", "a100", mktx("R", []string{"f1"}, out(0, key(9), 4800)))).
			wants("double_spent A:0 0->0 by R", "double_spent A2:0 0->0 by R").
			then(tracked("A:0 5000 double spent by R", "A2:0 4900 double spent by R")),
	}},
	{name: "replaced transaction mined instead of its replacement", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		mempool(mktx("A2", []string{"f1"}, out(0, k1, 4900))).
			wants("conflicted A:0 0->0 by A2", "payment_seen A2:0 0->0"),
		connect(blk(101, "a101", "a100", payA)).wants("double_spent A2:0 0->0 by A", "reinstated A:0 0->1 @a101"),
	}},
	{name: "conflicting transaction mined double spends", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(mktx("A", []string{"f1", "f2"}, out(0, k1, 5000), out(1, k2, 6000))).
			wants("payment_seen A:0 0->0", "payment_seen A:1 0->0"),
		connect(blk(101, "a101", "a100", mktx("X", []string{"f2"}))).
			wants("double_spent A:0 0->0 by X", "double_spent A:1 0->0 by X").
			then(func(t *testing.T, tr *Tracker) {
				if !tr.IsWatchedSpend(chain.Outpoint{TxID: "f1"}) {
					t.Error("inputs of a double-spent transaction no longer watched: its return would be missed")
				}
			}),
		disconnect(101, "a101").wants("conflicted A:0 0->0 by X", "conflicted A:1 0->0 by X"),
		connect(blk(101, "b101", "a100")),
	}},
	{name: "a payment the node no longer lists is dropped until seen again", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		listed("A"),
		listed().wants("conflicted A:0 0->0"),
		restart(),
		mempool(payA).wants("reinstated A:0 0->0"),
		listed("A"),
	}},
	{name: "a double spend final at the limit ends its victims", limit: 2, steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		connect(blk(101, "a101", "a100", mktx("X", []string{"f1"}))).wants("double_spent A:0 0->0 by X"),
		connect(blk(102, "a102", "a101")).wants("final A:0 0->0").then(tracked()),
	}},
	{name: "mempool conflict with a confirmed payment is ignored", steps: []step{
		connect(blk(100, "a100", "a99")),
		connect(blk(101, "a101", "a100", payA)).wants("payment_seen A:0 0->1 @a101"),
		mempool(mktx("X", []string{"f1"}, out(0, k1, 1))).then(func(t *testing.T, tr *Tracker) {
			if !tr.IsWatchedSpend(chain.Outpoint{TxID: "f1"}) {
				t.Error("IsWatchedSpend(f1) = false for a confirmed payment's input")
			}
		}),
		connect(blk(102, "a102", "a101")).wants("confirmations_changed A:0 1->2 @a101"),
	}},
	{name: "out-of-order connect and disconnect rejected", steps: []step{
		disconnect(100, "a100").fails(ErrOutOfOrder),
		connect(blk(100, "a100", "a99")),
		connect(blk(102, "a102", "a101")).fails(ErrOutOfOrder),
		connect(blk(101, "a101", "zz")).fails(ErrOutOfOrder),
		connect(blk(100, "a100", "a99")).fails(ErrOutOfOrder),
		disconnect(99, "a99").fails(ErrOutOfOrder),
		disconnect(100, "b100").fails(ErrOutOfOrder),
		connect(blk(101, "a101", "a100", payA)).wants("payment_seen A:0 0->1 @a101"),
		disconnect(100, "a100").fails(ErrOutOfOrder),
		connect(blk(102, "", "a101")).fails(ErrBadBlock),
		connect(blk(102, "a102", "a101")).wants("confirmations_changed A:0 1->2 @a101"),
	}},
	{name: "duplicate mempool tx ignored", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		mempool(payA),
		connect(blk(101, "a101", "a100", payA)).wants("confirmations_changed A:0 0->1 @a101"),
		mempool(payA),
		disconnect(101, "a101").wants("reorged_out A:0 1->0"),
		mempool(payA),
	}},
	{name: "forget stops tracking", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		forget("A", 0, k1).then(func(t *testing.T, tr *Tracker) {
			if tr.IsWatchedSpend(chain.Outpoint{TxID: "f1"}) {
				t.Error("inputs of a forgotten payment still watched")
			}
		}),
		connect(blk(101, "a101", "a100", payA)).then(tracked()),
	}},
	{name: "restore mid-chain", steps: []step{
		connect(blk(100, "a100", "a99")),
		mempool(payA).wants("payment_seen A:0 0->0"),
		connect(blk(101, "a101", "a100", payA)).wants("confirmations_changed A:0 0->1 @a101"),
		restart(),
		connect(blk(102, "a102", "a101")).wants("confirmations_changed A:0 1->2 @a101"),
		disconnect(102, "a102").wants("confirmations_changed A:0 2->1 @a101"),
		restart(),
		disconnect(101, "a101").wants("reorged_out A:0 1->0"),
		restart(),
		mempool(mktx("A2", []string{"f1"}, out(0, k1, 4900))).
			wants("conflicted A:0 0->0 by A2", "payment_seen A2:0 0->0"),
		restart(),
		connect(blk(101, "b101", "a100", payA)).wants("double_spent A2:0 0->0 by A", "reinstated A:0 0->1 @b101"),
	}},
}

func runCase(t *testing.T, tc trackerCase, restartEveryStep bool) [][]Event {
	t.Helper()
	e := &env{watch: NewWatchSet(0), cfg: Config{SafetyLimit: tc.limit}}
	for _, k := range []chain.Key{k1, k2, k3} {
		e.watch.Add(k)
	}
	e.tr = New(e.cfg, e.watch)
	var log [][]Event
	for i, s := range tc.steps {
		if restartEveryStep && !e.tr.Halted() {
			if _, err := restart().do(e); err != nil {
				t.Fatalf("step %d: restart: %v", i, err)
			}
		}
		events, err := s.do(e)
		if !errors.Is(err, s.err) || (err == nil) != (s.err == nil) {
			t.Fatalf("step %d: error = %v, want %v", i, err, s.err)
		}
		if diff := cmp.Diff(s.want, describe(events)); diff != "" {
			t.Fatalf("step %d: events (-want +got):\n%s", i, diff)
		}
		if s.check != nil {
			s.check(t, e.tr)
		}
		log = append(log, events)
	}
	return log
}

func TestTrackerScripts(t *testing.T) {
	for _, tc := range trackerCases {
		t.Run(tc.name, func(t *testing.T) {
			straight := runCase(t, tc, false)
			// The same script with a snapshot and restore before every
			// step must produce exactly the same events, payments included.
			restarted := runCase(t, tc, true)
			if diff := cmp.Diff(straight, restarted, cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("events differ after restarts (-straight +restarted):\n%s", diff)
			}
		})
	}
}

// TestForkPoint: a node behind the tracker is waited for, never taken for
// a reorg; a different block at a height the node has is a fork.
func TestForkPoint(t *testing.T) {
	tr := New(Config{SafetyLimit: 10}, NewWatchSet(0))
	for h := int64(100); h <= 105; h++ {
		if _, err := tr.Connect(blk(h, fmt.Sprintf("a%d", h), fmt.Sprintf("a%d", h-1))); err != nil {
			t.Fatal(err)
		}
	}
	ours := func(h int64) (string, error) { return fmt.Sprintf("a%d", h), nil }
	theirsAbove := func(fork int64) func(int64) (string, error) {
		return func(h int64) (string, error) {
			if h > fork {
				return fmt.Sprintf("b%d", h), nil
			}
			return ours(h)
		}
	}
	cases := []struct {
		name       string
		nodeTip    int64
		hashAt     func(int64) (string, error)
		fork       int64
		wantBehind bool
	}{
		{"same tip", 105, ours, 105, false},
		{"node ahead", 108, ours, 105, false},
		{"node behind on our chain", 102, ours, 102, true},
		{"node below everything remembered", 90, ours, 99, true},
		{"reorg at the same height", 105, theirsAbove(103), 103, false},
		{"reorg to a longer branch", 107, theirsAbove(101), 101, false},
		{"shorter node on another branch", 103, theirsAbove(102), 102, false},
		{"fork below the remembered blocks", 106, theirsAbove(0), 99, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fork, behind, err := tr.ForkPoint(tc.nodeTip, tc.hashAt)
			if err != nil || fork != tc.fork || behind != tc.wantBehind {
				t.Fatalf("ForkPoint = %d, behind %v, %v; want %d, behind %v", fork, behind, err, tc.fork, tc.wantBehind)
			}
		})
	}
}
