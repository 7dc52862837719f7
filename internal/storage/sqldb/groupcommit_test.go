package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	_ "modernc.org/sqlite" // the engine group commit exists for

	"github.com/cryptopay/cryptopay/internal/storage"
)

// groupDB is a group-committing DB over a real SQLite file with one table,
// runs, in which each test callback records its name: the rows' order is
// the order the callbacks ran in.
type groupDB struct {
	*DB
	t *testing.T
}

func openGroupDB(t *testing.T) groupDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "group.db")
	writer, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	writer.SetMaxOpenConns(1)
	if _, err := writer.Exec(`CREATE TABLE runs (seq INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	reader, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	db, err := New(Config{
		Dialect:    &Dialect{Name: "sqlite", GroupCommit: true, TranslateError: func(error) error { return nil }},
		Writer:     writer,
		Reader:     reader,
		Migrations: fstest.MapFS{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return groupDB{db, t}
}

// record returns a callback that records name, then waits for release
// (nil: no wait) after closing started (nil: none).
func record(name string, started chan<- struct{}, release <-chan struct{}) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		if _, err := tx.(*Tx).exec(context.Background(), `INSERT INTO runs (name) VALUES (?)`, name); err != nil {
			return err
		}
		if started != nil {
			close(started)
		}
		if release != nil {
			<-release
		}
		return nil
	}
}

// committed returns the names of the committed runs in order, read
// through the reader pool, which sees committed transactions only.
func (g groupDB) committed() []string {
	g.t.Helper()
	rows, err := g.reader.Query(`SELECT name FROM runs ORDER BY seq`)
	if err != nil {
		g.t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			g.t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		g.t.Fatal(err)
	}
	return names
}

// waitQueued waits until the committer's queues hold exactly urgent
// priority and normal ordinary requests: a state, not a duration.
func (g groupDB) waitQueued(urgent, normal int) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.group.mu.Lock()
		u, n := len(g.group.urgent), len(g.group.queue)
		g.group.mu.Unlock()
		if u == urgent && n == normal {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("queues hold %d priority and %d ordinary requests, want %d and %d", u, n, urgent, normal)
		}
		time.Sleep(time.Millisecond)
	}
}

// async runs InTx in a goroutine and returns where its error arrives.
func (g groupDB) async(ctx context.Context, fn func(storage.Tx) error) <-chan error {
	out := make(chan error, 1)
	go func() { out <- g.InTx(ctx, fn) }()
	return out
}

func wait(t *testing.T, errs ...<-chan error) {
	t.Helper()
	for _, ch := range errs {
		if err := <-ch; err != nil {
			t.Errorf("InTx: %v", err)
		}
	}
}

// TestGroupCommitPriorityFirst: a priority transaction queued after
// ordinary ones runs and commits before them, in a batch of its own.
func TestGroupCommitPriorityFirst(t *testing.T) {
	g := openGroupDB(t)
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	busy := g.async(ctx, record("busy", started, release))
	<-started // the writer is busy; what follows queues
	n1 := g.async(ctx, record("n1", nil, nil))
	g.waitQueued(0, 1)
	n2 := g.async(ctx, record("n2", nil, nil))
	g.waitQueued(0, 2)
	var sawCommitted []string
	p := g.async(storage.WithPriority(ctx), func(tx storage.Tx) error {
		sawCommitted = g.committed()
		return record("priority", nil, nil)(tx)
	})
	g.waitQueued(1, 2)
	close(release)
	wait(t, busy, n1, n2, p)
	if got, want := g.committed(), []string{"busy", "priority", "n1", "n2"}; !slices.Equal(got, want) {
		t.Errorf("ran in order %q, want %q", got, want)
	}
	// Alone in its batch: nothing ordinary ran in the transaction before
	// it, and the batch before it had committed.
	if want := []string{"busy"}; !slices.Equal(sawCommitted, want) {
		t.Errorf("priority callback saw %q committed, want %q", sawCommitted, want)
	}
}

// TestGroupCommitPriorityCutsBatch: a priority transaction queued while a
// batch of ordinary ones runs waits only for the callback in progress: the
// batch commits what ran so far, the priority transaction commits next,
// then the rest of the batch.
func TestGroupCommitPriorityCutsBatch(t *testing.T) {
	g := openGroupDB(t)
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	busy := g.async(ctx, record("busy", started, release))
	<-started
	started1, release1 := make(chan struct{}), make(chan struct{})
	n1 := g.async(ctx, record("n1", started1, release1))
	g.waitQueued(0, 1)
	n2 := g.async(ctx, record("n2", nil, nil))
	g.waitQueued(0, 2)
	n3 := g.async(ctx, record("n3", nil, nil))
	g.waitQueued(0, 3)
	close(release) // n1, n2 and n3 go in one batch; n1 holds it
	<-started1
	g.waitQueued(0, 0)
	var sawCommitted []string
	p := g.async(storage.WithPriority(ctx), func(tx storage.Tx) error {
		sawCommitted = g.committed()
		return record("priority", nil, nil)(tx)
	})
	g.waitQueued(1, 0)
	close(release1)
	wait(t, busy, n1, n2, n3, p)
	if got, want := g.committed(), []string{"busy", "n1", "priority", "n2", "n3"}; !slices.Equal(got, want) {
		t.Errorf("ran in order %q, want %q", got, want)
	}
	if want := []string{"busy", "n1"}; !slices.Equal(sawCommitted, want) {
		t.Errorf("priority callback saw %q committed, want %q (n1 answered only after its commit)", sawCommitted, want)
	}
}

// TestGroupCommitCancelWhileQueued: a caller whose context ends while it
// waits in the queue returns at once, and its callback never runs.
func TestGroupCommitCancelWhileQueued(t *testing.T) {
	g := openGroupDB(t)
	started, release := make(chan struct{}), make(chan struct{})
	busy := g.async(context.Background(), record("busy", started, release))
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	queued := g.async(ctx, record("cancelled", nil, nil))
	g.waitQueued(0, 1)
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) { // while busy still holds the writer
		t.Errorf("cancelled InTx = %v, want context.Canceled", err)
	}
	g.waitQueued(0, 0)
	close(release)
	wait(t, busy)
	if got, want := g.committed(), []string{"busy"}; !slices.Equal(got, want) {
		t.Errorf("committed %q, want %q", got, want)
	}
}

// TestGroupCommitCloseFailsQueued: Close lets the batch in flight finish
// and fails the requests still queued; nothing of theirs is written.
func TestGroupCommitCloseFailsQueued(t *testing.T) {
	g := openGroupDB(t)
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	busy := g.async(ctx, record("busy", started, release))
	<-started
	queued := g.async(ctx, record("queued", nil, nil))
	g.waitQueued(0, 1)
	closed := make(chan struct{})
	go func() { g.group.close(); close(closed) }()
	for {
		g.group.mu.Lock()
		c := g.group.closed
		g.group.mu.Unlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-closed
	wait(t, busy)
	if err := <-queued; !errors.Is(err, errClosed) {
		t.Errorf("queued InTx = %v, want errClosed", err)
	}
	if err := g.InTx(ctx, record("late", nil, nil)); !errors.Is(err, errClosed) {
		t.Errorf("InTx after close = %v, want errClosed", err)
	}
}

// onLoop reports whether the calling goroutine is one of the committer's
// loops (rather than the caller of InTx).
func onLoop() bool {
	buf := make([]byte, 64<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), "(*groupCommitter).loop")
}

// TestGroupCommitLoneCallerRunsAtOnce: a caller alone commits at once on
// its own goroutine, waiting for no company and no hand-off to a loop; a
// caller that arrives while the batch slot is taken queues for the loop,
// and both commit.
func TestGroupCommitLoneCallerRunsAtOnce(t *testing.T) {
	g := openGroupDB(t)
	ctx := context.Background()
	var lonelyOnLoop bool
	if err := g.InTx(ctx, func(tx storage.Tx) error {
		lonelyOnLoop = onLoop()
		return record("alone", nil, nil)(tx)
	}); err != nil {
		t.Fatal(err)
	}
	if lonelyOnLoop {
		t.Error("a lone caller's callback ran on a loop, not at once on its own goroutine")
	}

	started, release := make(chan struct{}), make(chan struct{})
	busy := g.async(ctx, record("busy", started, release))
	<-started
	queuedOnLoop := make(chan bool, 1)
	second := g.async(ctx, func(tx storage.Tx) error {
		queuedOnLoop <- onLoop()
		return record("second", nil, nil)(tx)
	})
	g.waitQueued(0, 1) // the slot is taken: it queues
	close(release)
	wait(t, busy, second)
	if !<-queuedOnLoop {
		t.Error("a caller that arrived while the batch slot was taken did not run on the loop")
	}
	if got, want := g.committed(), []string{"alone", "busy", "second"}; !slices.Equal(got, want) {
		t.Errorf("committed %v, want %v", got, want)
	}
}
