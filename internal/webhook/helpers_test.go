package webhook

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/testdb"
)

// engines runs fn on SQLite always and on PostgreSQL when
// testdb.PostgresEnv is set (the postgres subtest skips otherwise).
func engines(t *testing.T, fn func(t *testing.T, db storage.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t)) })
}

// openSQLite returns a SQLite database with the gateway's and the job
// queue's migrations applied.
func openSQLite(t testing.TB) storage.DB {
	t.Helper()
	db := testdb.OpenSQLite(t)
	migrate(t, db)
	return db
}

// openPostgres is openSQLite on a fresh PostgreSQL schema, dropped at
// cleanup.
func openPostgres(t testing.TB) storage.DB {
	t.Helper()
	db := testdb.OpenPostgres(t)
	migrate(t, db)
	return db
}

func migrate(t testing.TB, db storage.DB) {
	t.Helper()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func testKeyring(t testing.TB) *fieldcrypt.Keyring {
	t.Helper()
	var k fieldcrypt.Key
	rand.Read(k[:])
	kr, err := fieldcrypt.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func createStore(t testing.TB, db storage.DB, live bool) *cryptopay.Store {
	t.Helper()
	st := &cryptopay.Store{ID: cryptopay.NewID(cryptopay.PrefixStore, time.Now()), Name: "shop", Livemode: live,
		DefaultCurrency: "USD", InvoiceExpiry: 15 * time.Minute, MonitoringWindow: time.Hour,
		Confirmations: cryptopay.DefaultConfirmationPolicy(), CreatedAt: time.Now().UTC()}
	if err := db.InTx(t.Context(), func(tx storage.Tx) error { return tx.CreateStore(t.Context(), st) }); err != nil {
		t.Fatal(err)
	}
	return st
}

// newService starts a Service on db with fast test settings.
func newService(t testing.TB, db storage.DB, mod func(*Config)) *Service {
	t.Helper()
	s := newStoppedService(t, db, mod)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// newStoppedService is newService not yet started; it is stopped at
// cleanup if the test starts it.
func newStoppedService(t testing.TB, db storage.DB, mod func(*Config)) *Service {
	t.Helper()
	// Receivers are httptest servers on loopback, so loopback is allowed.
	cfg := Config{DB: db, Keyring: testKeyring(t), Version: "test", PollInterval: 50 * time.Millisecond, AllowLoopback: true,
		Schedule: Schedule{Base: 200 * time.Millisecond, Max: time.Second, Window: time.Hour}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// writeEvent writes an event the way the gateway does: in a transaction,
// through an outbox on db. It is not the Service's own outbox: any process
// that writes events (a CLI command) queues them for whichever process
// delivers.
func writeEvent(t testing.TB, db storage.DB, st *cryptopay.Store, typ cryptopay.EventType, data string) *cryptopay.Event {
	t.Helper()
	ob, err := NewOutbox(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &cryptopay.Event{ID: cryptopay.NewID(cryptopay.PrefixEvent, time.Now()), StoreID: st.ID, Livemode: st.Livemode,
		Type: typ, Data: []byte(data), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := db.InTx(t.Context(), func(tx storage.Tx) error { return ob.Append(t.Context(), tx, ev) }); err != nil {
		t.Fatal(err)
	}
	return ev
}

// received is one request a recorder saw.
type received struct {
	Header http.Header
	Body   []byte
}

// recorder is a webhook receiver that records every request and answers
// with status(n) for the n-th request (1-based).
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []received
	status func(n int) int
}

func newRecorder(t testing.TB, status func(n int) int) *recorder {
	r := &recorder{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{Header: req.Header.Clone(), Body: b})
		n := len(r.reqs)
		r.mu.Unlock()
		code := 200
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "ok from receiver")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

var pageAll = storage.Page{Limit: 100}
