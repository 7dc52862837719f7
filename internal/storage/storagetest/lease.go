package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// testLease checks the leadership lease: one holder at a time, renewal,
// takeover after expiry (bumping the epoch, the fencing token), release,
// and that a transaction fenced by an old epoch writes nothing.
func testLease(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	const name = "chain watcher bitcoin-regtest"
	ttl := time.Minute

	e1, err := db.AcquireLease(ctx, name, "a", ttl)
	if err != nil || e1 != 1 {
		t.Fatalf("first acquisition = %d, %v; want epoch 1", e1, err)
	}
	if _, err := db.AcquireLease(ctx, name, "b", ttl); !errors.Is(err, storage.ErrLeaseHeld) {
		t.Errorf("acquisition of a held lease by another holder: %v, want ErrLeaseHeld", err)
	}
	if e, err := db.AcquireLease(ctx, "chain watcher bitcoin", "b", ttl); err != nil || e != 1 {
		t.Errorf("another name is another lease: %d, %v", e, err)
	}
	if err := db.RenewLease(ctx, name, "a", e1, ttl); err != nil {
		t.Errorf("renewal by the holder: %v", err)
	}
	if err := db.RenewLease(ctx, name, "b", e1, ttl); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("renewal by another holder: %v, want ErrLeaseLost", err)
	}
	l, err := db.GetLease(ctx, name)
	if err != nil || l.Holder != "a" || l.Epoch != e1 {
		t.Errorf("GetLease = %+v, %v", l, err)
	}
	if _, err := db.GetLease(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetLease of an unknown name: %v, want ErrNotFound", err)
	}

	// The holder's fenced write commits.
	put := func(epoch int64, height int64) error {
		return db.InTx(ctx, func(tx storage.Tx) error {
			if err := tx.CheckLease(ctx, name, epoch); err != nil {
				return err
			}
			return tx.PutChainState(ctx, &storage.ChainState{Network: cryptopay.NetworkBitcoinRegtest,
				Height: height, Hash: "h", Snapshot: []byte{1}, UpdatedAt: base})
		})
	}
	if err := put(e1, 1); err != nil {
		t.Fatalf("write fenced by the current epoch: %v", err)
	}

	// Expiry: a short lease runs out and another holder takes it over with
	// a new epoch; the old holder can neither renew nor write.
	if err := db.RenewLease(ctx, name, "a", e1, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	e2, err := db.AcquireLease(ctx, name, "b", ttl)
	if err != nil || e2 != e1+1 {
		t.Fatalf("takeover after expiry = %d, %v; want epoch %d", e2, err, e1+1)
	}
	if err := db.RenewLease(ctx, name, "a", e1, ttl); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("renewal by the replaced holder: %v, want ErrLeaseLost", err)
	}
	if err := put(e1, 2); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("write fenced by the old epoch: %v, want ErrLeaseLost", err)
	}
	if st, err := db.GetChainState(ctx, cryptopay.NetworkBitcoinRegtest); err != nil || st.Height != 1 {
		t.Errorf("chain state after the refused write: %+v, %v; want height 1", st, err)
	}
	if err := put(e2, 3); err != nil {
		t.Errorf("write of the new holder: %v", err)
	}

	// The holder may re-acquire (fencing its own older writes); release
	// lets another take over at once.
	e3, err := db.AcquireLease(ctx, name, "b", ttl)
	if err != nil || e3 != e2+1 {
		t.Fatalf("re-acquisition by the holder = %d, %v; want %d", e3, err, e2+1)
	}
	if err := put(e2, 4); !errors.Is(err, storage.ErrLeaseLost) {
		t.Errorf("write fenced by the holder's previous epoch: %v, want ErrLeaseLost", err)
	}
	if err := db.ReleaseLease(ctx, name, "a", e1); err != nil {
		t.Errorf("release of a lost lease: %v", err)
	}
	if _, err := db.AcquireLease(ctx, name, "a", ttl); !errors.Is(err, storage.ErrLeaseHeld) {
		t.Errorf("a stale release freed the lease: %v", err)
	}
	if err := db.ReleaseLease(ctx, name, "b", e3); err != nil {
		t.Fatal(err)
	}
	if e4, err := db.AcquireLease(ctx, name, "a", ttl); err != nil || e4 != e3+1 {
		t.Errorf("acquisition after release = %d, %v; want %d", e4, err, e3+1)
	}
}

// testLeaseTakeoverWaitsForFencedWrite checks that a takeover cannot
// slip in while a fenced transaction is in flight: it waits for the
// transaction, which commits (its epoch was current when it checked), and
// the new holder then sees the write.
func testLeaseTakeoverWaitsForFencedWrite(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	const name = "chain watcher bitcoin-regtest"
	e1, err := db.AcquireLease(ctx, name, "a", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // expired: anyone may take it
	checked := make(chan struct{})
	took := make(chan error, 1)
	go func() {
		<-checked
		_, err := db.AcquireLease(ctx, name, "b", time.Minute)
		took <- err
	}()
	err = db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CheckLease(ctx, name, e1); err != nil {
			return err
		}
		close(checked)
		if db.Engine() == "postgres" { // SQLite: the takeover waits for the single writer anyway
			select {
			case err := <-took:
				t.Errorf("takeover finished while a fenced transaction held the lease: %v", err)
			case <-time.After(200 * time.Millisecond):
			}
		}
		return tx.PutChainState(ctx, &storage.ChainState{Network: cryptopay.NetworkBitcoinRegtest,
			Height: 7, Hash: "h", Snapshot: []byte{1}, UpdatedAt: base})
	})
	if err != nil {
		t.Fatalf("fenced transaction: %v", err)
	}
	if err := <-took; err != nil {
		t.Fatalf("takeover after the fenced transaction: %v", err)
	}
	if st, err := db.GetChainState(ctx, cryptopay.NetworkBitcoinRegtest); err != nil || st.Height != 7 {
		t.Errorf("the new holder sees %+v, %v; want the fenced write", st, err)
	}
}

// testListenInvoices checks that new invoices are announced when their
// transaction commits (PostgreSQL), never for a rolled-back one, and that
// SQLite reports no notifications.
func testListenInvoices(t *testing.T, open Opener) {
	ctx := t.Context()
	db := migrated(t, open)
	ch, err := db.ListenInvoices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if db.Engine() == "sqlite" {
		if ch != nil {
			t.Error("SQLite announces invoices; it has no notifications")
		}
		return
	}
	st := newStore(t, "listen")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateStore(ctx, st) })
	rolledBack := newInvoice(st, 1, "")
	errRollback := errors.New("roll back")
	if err := db.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateInvoice(ctx, rolledBack); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	inv := newInvoice(st, 2, "")
	inTx(t, db, func(tx storage.Tx) error { return tx.CreateInvoice(ctx, inv) })
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatal("listener closed")
		}
		want := storage.WatchedAddress{InvoiceID: inv.ID, Network: inv.Network, Address: inv.Address, MonitorUntil: us(inv.MonitorUntil)}
		diff(t, "announced invoice", want, got)
	case <-time.After(5 * time.Second):
		t.Fatal("no announcement within 5s of the commit")
	}
}
