package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/alert"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// TestAuditCheckpoints: serve's checkpoints land in the file and the
// alert webhook; `audit verify` holds the log against them, so deleting
// the newest entry and moving the head back (which the chain alone
// cannot see) fails, naming the entry; and no checkpoint is written over
// a truncated log.
func TestAuditCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vars := map[string]string{
		"CRYPTOPAY_DATA_DIR":       dir,
		"CRYPTOPAY_LOG_LEVEL":      "error",
		"CRYPTOPAY_ENCRYPTION_KEY": strings.Repeat("5a", 32),
	}
	a := testApp(t, vars)
	var mu sync.Mutex
	var posted []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, string(b))
		mu.Unlock()
	}))
	defer sink.Close()
	a.alerter = alert.New(alert.Config{WebhookURL: sink.URL})
	defer a.alerter.Close()

	addEntry := func(name string) {
		t.Helper()
		err := a.db.InTx(ctx, func(tx storage.Tx) error {
			return a.svc.Audit(gateway.WithActor(ctx, gateway.Actor{Operator: gateway.OperatorActor}), tx,
				gateway.AuditRecord{Action: gateway.AuditStoreCreated, Target: name})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	lines := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "audit-checkpoints.jsonl"))
		return strings.Count(string(b), "\n")
	}
	e := &secEnv{t: t, vars: vars}

	addEntry("one")
	addEntry("two")
	cp, err := a.exportAuditCheckpoint(ctx, time.Now())
	if err != nil || cp == nil || cp.Seq != 2 || lines() != 1 {
		t.Fatalf("first checkpoint = %+v, %v; %d line(s)", cp, err, lines())
	}
	if _, err := a.exportAuditCheckpoint(ctx, time.Now()); err != nil || lines() != 1 {
		t.Fatalf("an unchanged head wrote another checkpoint (%v, %d lines)", err, lines())
	}
	addEntry("three")
	if cp, err = a.exportAuditCheckpoint(ctx, time.Now()); err != nil || cp.Seq != 3 || lines() != 2 {
		t.Fatalf("second checkpoint = %+v, %v; %d line(s)", cp, err, lines())
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	a.alerter.Drain(dctx)
	cancel()
	mu.Lock()
	got := strings.Join(posted, "\n")
	mu.Unlock()
	if !strings.Contains(got, "audit log head: entry 3") || !strings.Contains(got, cp.MAC) {
		t.Errorf("the alert webhook did not receive the checkpoint: %s", got)
	}
	out := e.must("audit", "verify")
	if !strings.Contains(out, "intact: 3 entries") || !strings.Contains(out, "holds against 2 checkpoint(s)") {
		t.Fatalf("audit verify: %s", out)
	}

	// Someone with write access to the database removes entry 3 and moves
	// the head back: the chain is consistent, the checkpoint is not.
	for _, q := range []string{`DELETE FROM audit_log WHERE seq = 3`,
		`UPDATE audit_chain_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2) WHERE id = 1`} {
		if _, err := a.db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	code, _, errs := e.run("audit", "verify")
	if code == 0 || !strings.Contains(errs, "entry 3") || !strings.Contains(errs, "truncated") {
		t.Errorf("audit verify over a truncated log: exit %d: %s", code, errs)
	}
	if _, err := a.exportAuditCheckpoint(ctx, time.Now()); !errors.Is(err, errAuditBehindCheckpoint) || lines() != 2 {
		t.Errorf("checkpoint over a truncated log = %v, %d lines; want refused, nothing written", err, lines())
	}

	// An explicit checkpoint file that is forged is refused.
	forged := filepath.Join(dir, "forged.jsonl")
	cp.Seq = 1
	b, _ := json.Marshal(cp)
	os.WriteFile(forged, append(b, '\n'), 0o600)
	if code, _, errs := e.run("audit", "verify", "--checkpoint", forged); code == 0 || !strings.Contains(errs, "forged") {
		t.Errorf("audit verify with a forged checkpoint: exit %d: %s", code, errs)
	}
	if code, _, errs := e.run("audit", "verify", "--checkpoint", filepath.Join(dir, "missing")); code == 0 {
		t.Errorf("audit verify with a missing checkpoint file: exit %d: %s", code, errs)
	}
}
