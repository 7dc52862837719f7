//go:build unix

package cli

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/client"
	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/postgres"
	"github.com/cryptopay/cryptopay/internal/testdb"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// gatewayProc is one `cryptopay serve` process of the crash battery.
type gatewayProc struct {
	name   string
	cmd    *exec.Cmd
	listen string
	c      *client.Client
}

// TestCrashBattery runs two real gateway processes (the built binary) on
// one PostgreSQL database with one regtest node, creates and pays
// invoices on both, terminates the leader's database connections, kills
// the leader with SIGKILL and restarts it, and then asserts: every
// payment credited exactly once, every invoice settled once, no event
// type emitted twice for the same invoice, payment and confirmation
// count, and every invoice the API answered 201 for still readable on
// both instances. (Restarting PostgreSQL itself is left to the external
// resilience run: the test's server is shared and not ours to restart.)
func TestCrashBattery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway and runs two instances; slow")
	}
	schemaURL := testdb.PostgresURL(t) // skips without PostgreSQL
	ctx := t.Context()
	bin := buildCryptopay(t, ctx)
	btcd, err := regtest.BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := regtest.NewWallet([]byte("cryptopay crash battery seed 01"), regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	node, err := regtest.Start(ctx, regtest.Options{Dir: t.TempDir(), BtcdPath: btcd, MiningAddress: wallet.MiningAddress()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Stop() })
	if _, err := node.Mine(ctx, 130); err != nil {
		t.Fatal(err)
	}
	if err := wallet.Sync(ctx, node); err != nil {
		t.Fatal(err)
	}

	// The test's own handle: migrate, make the store and key, read back.
	db, err := postgres.Open(ctx, schemaURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := gateway.New(gateway.Config{DB: db, Outbox: ob})
	st, err := svc.CreateStore(ctx, gateway.StoreParams{Name: "battery", Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest",
		AccountKey: "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"}}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Scopes: []string{"invoices:read", "invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}

	start := func(name string) *gatewayProc {
		u, _ := url.Parse(schemaURL)
		q := u.Query()
		q.Set("application_name", "cp_battery_"+name)
		u.RawQuery = q.Encode()
		listen := freeAddr(t)
		env := sandboxEnv(t.TempDir(), btcd, listen)
		env = append(env, "CRYPTOPAY_DATABASE_URL="+u.String(),
			"CRYPTOPAY_BITCOIN_RPC_URL="+node.RPCURL(), "CRYPTOPAY_BITCOIN_RPC_USER="+node.RPCUser(),
			"CRYPTOPAY_BITCOIN_RPC_PASSWORD="+node.RPCPassword(), "CRYPTOPAY_BITCOIN_NETWORK=bitcoin-regtest",
			"CRYPTOPAY_BITCOIN_POLL_INTERVAL=200ms", "CRYPTOPAY_BITCOIN_LEASE_TTL=2s",
			"CRYPTOPAY_RATE_LIMIT_KEY=off", "CRYPTOPAY_RATE_LIMIT_IP=off", "CRYPTOPAY_RATES=BTC_USD=65000.00", "CRYPTOPAY_LOG_LEVEL=info")
		cmd := exec.Command(bin, "serve", "--migrate")
		cmd.Env = env
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		up := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stderr)
			var once sync.Once
			for sc.Scan() {
				if strings.Contains(sc.Text(), "cryptopay listening") {
					once.Do(func() { close(up) })
				}
				if testing.Verbose() {
					t.Logf("%s: %s", name, sc.Text())
				}
			}
		}()
		select {
		case <-up:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("gateway %s did not start", name)
		}
		p := &gatewayProc{name: name, cmd: cmd, listen: listen, c: client.New("http://"+listen, key.Secret)}
		t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
		return p
	}
	leaderPid := func() int {
		l, err := db.GetLease(ctx, storage.LeaseName(cryptopay.NetworkBitcoinRegtest))
		if err != nil {
			return 0
		}
		var pid int
		if parts := strings.Split(l.Holder, "/"); len(parts) == 3 {
			fmt.Sscan(parts[1], &pid)
		}
		return pid
	}
	wait := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", within, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	gws := []*gatewayProc{start("a"), start("b")}
	wait("a leader", 15*time.Second, func() bool { return leaderPid() != 0 })
	var ids []string // every invoice the API answered 201 for
	round := 0
	payOn := func(gs ...*gatewayProc) {
		round++
		for _, g := range gs {
			for i := range 3 {
				var inv *client.Invoice
				var err error
				for try := 0; try < 50; try++ { // a 503 is retried, as a shop would
					inv, err = g.c.CreateInvoice(ctx, client.InvoiceParams{OrderID: fmt.Sprintf("r%d-%s-%d", round, g.name, i), Amount: "0.001", Currency: "BTC"})
					if apiErr, ok := errors.AsType[*client.Error](err); !ok || apiErr.Code != "database_unavailable" {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					t.Fatalf("create on %s: %v", g.name, err)
				}
				ids = append(ids, inv.ID)
				if _, _, err := wallet.Pay(ctx, node, inv.Address, 100_000, regtest.Opts{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	paid := func(id string) bool {
		inv, err := db.GetInvoice(ctx, id)
		return err == nil && len(inv.Payments) > 0
	}
	allPaid := func() bool { return !slices.ContainsFunc(ids, func(id string) bool { return !paid(id) }) }

	payOn(gws...)
	wait("round 1 seen", 20*time.Second, allPaid)

	// Drop the leader's database connections: no second leader may appear.
	leader := slices.IndexFunc(gws, func(g *gatewayProc) bool { return g.cmd.Process.Pid == leaderPid() })
	if leader < 0 {
		t.Fatalf("leader pid %d is neither gateway", leaderPid())
	}
	admin, err := sql.Open("pgx", os.Getenv(testdb.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
		"cp_battery_"+gws[leader].name); err != nil {
		t.Fatal(err)
	}
	payOn(gws...)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	wait("round 2 seen", 20*time.Second, allPaid)
	if leaderPid() != gws[leader].cmd.Process.Pid {
		t.Errorf("leadership moved when the leader's connections dropped (pid %d, was %d)", leaderPid(), gws[leader].cmd.Process.Pid)
	}

	// Kill the leader outright; the other takes over once the lease runs out.
	dead := gws[leader]
	if err := dead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	dead.cmd.Wait()
	survivor := gws[1-leader]
	payOn(survivor)
	wait("round 3 seen by the new leader", 20*time.Second, allPaid)
	if leaderPid() != survivor.cmd.Process.Pid {
		t.Errorf("leader after the kill is pid %d, want the survivor %d", leaderPid(), survivor.cmd.Process.Pid)
	}
	// Restart the killed instance: it stands by.
	gws[leader] = start(dead.name)
	payOn(gws...)
	wait("round 4 seen", 20*time.Second, allPaid)
	if _, err := node.Mine(ctx, 3); err != nil {
		t.Fatal(err)
	}
	wait("every invoice settled", 30*time.Second, func() bool {
		return !slices.ContainsFunc(ids, func(id string) bool {
			inv, err := db.GetInvoice(ctx, id)
			return err != nil || inv.Status != cryptopay.StatusSettled
		})
	})
	time.Sleep(time.Second) // anything late would show now

	for _, id := range ids {
		inv, err := db.GetInvoice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Payments) != 1 || inv.AmountPaid.Int64() != 100_000 || inv.Status != cryptopay.StatusSettled {
			t.Errorf("invoice %s: %d payments, paid %s, %s; want one payment credited once, settled", inv.OrderID, len(inv.Payments), inv.AmountPaid, inv.Status)
		}
		for _, g := range gws {
			if got, err := g.c.GetInvoice(ctx, id); err != nil || got.Status != "settled" {
				t.Errorf("invoice %s on %s: %v", id, g.name, err)
			}
		}
		evs, _, err := db.ListEvents(ctx, storage.EventFilter{StoreID: st.ID, InvoiceID: id, Page: storage.Page{Limit: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, ev := range evs {
			var d cryptopay.InvoiceEventData
			_ = json.Unmarshal(ev.Data, &d)
			count[fmt.Sprintf("%s %s %d", ev.Type, d.TxID, d.Confirmations)]++
			if ev.Type == cryptopay.EventInvoiceSettled {
				count["settled"]++
			}
		}
		for k, n := range count {
			if n > 1 {
				t.Errorf("invoice %s: %q emitted %d times", inv.OrderID, k, n)
			}
		}
		if count["settled"] != 1 {
			t.Errorf("invoice %s settled %d times", inv.OrderID, count["settled"])
		}
	}
	t.Logf("%d invoices over %d rounds, leader killed and its connections terminated", len(ids), round)
}
