package webhook

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/fieldcrypt"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
	"github.com/cryptopay/cryptopay/webhooksig"
)

// TestCrashSafety builds the cryptopay binary, runs `serve` on SQLite,
// writes events while deliveries are in flight, kills the gateway with
// SIGKILL, restarts it, and asserts that every event id reached the
// receiver at least once. Recovery of the deliveries the killed process
// had claimed waits for their claims to end (DefaultRescueAfter, 20 s,
// plus a poll), so the test takes most of a minute; -short skips it.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and restarts the gateway; slow")
	}
	dir := t.TempDir()
	bin := dir + "/cryptopay"
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/cryptopay/cryptopay/cmd/cryptopay")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keyBytes := make([]byte, 32)
	rand.Read(keyBytes)
	keyHex := hex.EncodeToString(keyBytes)
	dbPath := dir + "/gw.db"

	var mu sync.Mutex
	seen := map[string]int{}
	total := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond) // keep deliveries in flight when the kill lands
		mu.Lock()
		seen[r.Header.Get(webhooksig.HeaderEventID)]++
		total++
		mu.Unlock()
		_ = b
	}))
	defer srv.Close()
	counts := func() (distinct, all int) { mu.Lock(); defer mu.Unlock(); return len(seen), total }

	env := append(os.Environ(), "CRYPTOPAY_DATABASE_URL="+dbPath, "CRYPTOPAY_LISTEN=127.0.0.1:0",
		"CRYPTOPAY_ENCRYPTION_KEY="+keyHex, "CRYPTOPAY_DATA_DIR="+dir, "CRYPTOPAY_LOG_LEVEL=info",
		"CRYPTOPAY_WEBHOOK_ALLOW_LOOPBACK=true") // the receiver is an httptest server on loopback
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--migrate")
		cmd.Env = env
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		up := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stderr)
			once := sync.Once{}
			for sc.Scan() {
				if strings.Contains(sc.Text(), "cryptopay listening") {
					once.Do(func() { close(up) })
				}
			}
		}()
		select {
		case <-up:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatal("gateway did not start")
		}
		return cmd
	}
	gw := start()
	t.Cleanup(func() { gw.Process.Kill(); gw.Wait() })

	// The test writes events itself, through the same outbox the gateway
	// installs, into the gateway's database; the gateway delivers them.
	db, err := sqlite.Open(t.Context(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := fieldcrypt.ParseKey(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := fieldcrypt.NewKeyring(key)
	s, err := New(Config{DB: db, Keyring: kr, AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	st := createStore(t, db, false)
	if _, _, err := s.CreateEndpoint(t.Context(), Owner{StoreID: st.ID}, EndpointParams{URL: ptr(srv.URL)}); err != nil {
		t.Fatal(err)
	}
	const n = 60
	var ids []string
	for range n {
		ids = append(ids, writeEvent(t, db, st, cryptopay.EventInvoiceCreated, `{}`).ID)
	}
	eventually(t, 60*time.Second, "some deliveries before the kill", func() bool { d, _ := counts(); return d >= 5 })
	if err := gw.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	before, _ := counts()
	if before == n {
		t.Log("every event was delivered before the kill landed; the restart still must not lose or duplicate ids")
	}
	gw = start()
	eventually(t, 4*time.Minute, "every event delivered after the restart", func() bool { d, _ := counts(); return d == n })
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if seen[id] == 0 {
			t.Errorf("event %s never delivered", id)
		}
	}
	t.Logf("%d events; %d distinct before the kill; %d requests in all (duplicates are allowed: at least once)", n, before, total)
}
