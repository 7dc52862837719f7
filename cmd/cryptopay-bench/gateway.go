package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the seeding connection to PostgreSQL
	_ "modernc.org/sqlite"             // the seeding connection to SQLite

	"github.com/cryptopay/cryptopay"
)

// regtestAccountKey is a regtest account public key: the bench store's
// addresses are derived from it, as a real store's are.
const regtestAccountKey = "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"

// gateway is one running `cryptopay serve` on one engine, with a test
// store and an API key.
type gateway struct {
	engine  string
	dbURL   string // CRYPTOPAY_DATABASE_URL
	pgAdmin string // PostgreSQL: the URL without the schema, for dropping it
	schema  string
	dir     string
	url     string
	key     string
	storeID string
	ids     string // file of seeded invoice ids, one a line
	cmd     *exec.Cmd
	bare    string // bare floor: SQLite file or PostgreSQL URL
}

func (b *bench) start(ctx context.Context, engine string) (*gateway, error) {
	gw := &gateway{engine: engine, dir: filepath.Join(b.work, engine)}
	if err := os.MkdirAll(gw.dir, 0o700); err != nil {
		return nil, err
	}
	switch engine {
	case "sqlite":
		gw.dbURL = filepath.Join(gw.dir, "cryptopay.db")
		gw.bare = filepath.Join(gw.dir, "bare.db")
	case "postgres":
		if b.o.pg == "" {
			return nil, fmt.Errorf("postgres needs -pg")
		}
		var suffix [4]byte
		_, _ = rand.Read(suffix[:])
		gw.schema = "cpbench_" + hex.EncodeToString(suffix[:])
		gw.pgAdmin = b.o.pg
		admin, err := sql.Open("pgx", b.o.pg)
		if err != nil {
			return nil, err
		}
		_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+gw.schema)
		admin.Close()
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(b.o.pg)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		q.Set("search_path", gw.schema)
		u.RawQuery = q.Encode()
		gw.dbURL, gw.bare = u.String(), u.String()
	default:
		return nil, fmt.Errorf("unknown engine %q", engine)
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	gw.url = "http://" + addr
	env := append(os.Environ(),
		"CRYPTOPAY_DATA_DIR="+gw.dir, "CRYPTOPAY_DATABASE_URL="+gw.dbURL, "CRYPTOPAY_LISTEN="+addr,
		"CRYPTOPAY_RATE_LIMIT_KEY=off", "CRYPTOPAY_RATE_LIMIT_IP=off", "CRYPTOPAY_LOG_LEVEL=warn",
		"CRYPTOPAY_RATES=BTC_USD=65000.00", "CRYPTOPAY_BITCOIN_RPC_URL=", "CRYPTOPAY_REDIS_URL=",
		"CRYPTOPAY_ALERT_WEBHOOK_URL=", "CRYPTOPAY_CONFIG_FILE=")
	cli := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, b.gateway, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("cryptopay %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	if _, err := cli("migrate"); err != nil {
		return nil, err
	}
	out, err := cli("stores", "create", "--name", "bench", "--account-key", regtestAccountKey)
	if err != nil {
		return nil, err
	}
	gw.storeID = field(out, "id:")
	out, err = cli("keys", "create", "--store", gw.storeID, "--scopes", "invoices:read,invoices:write")
	if err != nil {
		return nil, err
	}
	gw.key = field(out, "secret:")
	if gw.storeID == "" || gw.key == "" {
		return nil, fmt.Errorf("no store id or key secret in the CLI's output")
	}
	gw.cmd = exec.Command(b.gateway, "serve")
	gw.cmd.Env = env
	gw.cmd.Stdout, gw.cmd.Stderr = os.Stderr, os.Stderr
	gw.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := gw.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, gw.url+"/healthz"); err != nil {
		gw.stop()
		return nil, err
	}
	return gw, nil
}

// bareArgs are the load generator's flags for this engine's floor.
func (gw *gateway) bareArgs() []string {
	if gw.engine == "sqlite" {
		return []string{"-mode", "bare-sqlite", "-sqlite", gw.bare}
	}
	return []string{"-mode", "bare-pg", "-pg", gw.bare}
}

func (gw *gateway) stop() {
	if gw.cmd != nil && gw.cmd.Process != nil {
		_ = gw.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = gw.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = gw.cmd.Process.Kill()
		}
		gw.cmd = nil
	}
	if gw.schema != "" {
		if admin, err := sql.Open("pgx", gw.pgAdmin); err == nil {
			_, _ = admin.Exec("DROP SCHEMA " + gw.schema + " CASCADE")
			admin.Close()
		}
		gw.schema = ""
	}
}

// seed copies one invoice the API created until the store holds n more,
// each with its own id, order id and address, in transactions of 10,000
// rows, and writes every 100th id to the ids file the reads use. Expiry
// and monitoring are pushed a day out so no background pass touches them
// during the runs.
func (gw *gateway) seed(ctx context.Context, n int) error {
	driver := "sqlite"
	dsn := gw.dbURL + "?_pragma=busy_timeout(10000)"
	if gw.engine == "postgres" {
		driver, dsn = "pgx", gw.dbURL
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var template string
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT id FROM invoices WHERE store_id = '%s' ORDER BY id LIMIT 1`, gw.storeID)).Scan(&template); err != nil {
		return fmt.Errorf("template invoice: %w", err)
	}
	cols, err := columns(ctx, db, gw.engine)
	if err != nil {
		return err
	}
	varied := map[string]string{"id": "", "order_id": "", "address": "", "address_index": "",
		"watch_seq": "", "expires_at": "t.expires_at + 86400000000", "monitor_until": "t.monitor_until + 86400000000"}
	var names, exprs []string
	for _, c := range cols {
		e, ok := varied[c]
		if !ok {
			e = "t." + c
		}
		if e == "" {
			continue
		}
		names, exprs = append(names, c), append(exprs, e)
	}
	var stmt string
	if gw.engine == "sqlite" {
		stmt = `INSERT INTO invoices (id, order_id, address, address_index, ` + strings.Join(names, ", ") + `)
			SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'),
				json_extract(j.value, '$[3]'), ` + strings.Join(exprs, ", ") + `
			FROM json_each(?) j CROSS JOIN invoices t WHERE t.id = ?`
	} else {
		stmt = `INSERT INTO invoices (id, order_id, address, address_index, ` + strings.Join(names, ", ") + `)
			SELECT u.id, u.ord, u.addr, u.idx, ` + strings.Join(exprs, ", ") + `
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(id, ord, addr, idx)
			CROSS JOIN invoices t WHERE t.id = $5`
	}
	idf, err := os.Create(filepath.Join(gw.dir, "ids.txt"))
	if err != nil {
		return err
	}
	defer idf.Close()
	gw.ids = idf.Name()
	const chunk = 10_000
	base := time.Now().Add(-time.Hour) // older than the API's, newer than nothing in particular
	for done := 0; done < n; {
		m := min(chunk, n-done)
		ids, ords, addrs, idxs := make([]string, m), make([]string, m), make([]string, m), make([]int64, m)
		rows := make([][4]any, m)
		for i := range m {
			k := done + i
			ids[i] = cryptopay.NewID(cryptopay.PrefixInvoice, base.Add(time.Duration(k)*time.Microsecond))
			ords[i] = fmt.Sprintf("seed-%d", k)
			addrs[i] = fmt.Sprintf("bench-address-%d", k)
			idxs[i] = int64(1_000_000_000 + k)
			rows[i] = [4]any{ids[i], ords[i], addrs[i], idxs[i]}
			if k%100 == 0 {
				fmt.Fprintln(idf, ids[i])
			}
		}
		if gw.engine == "sqlite" {
			j, _ := json.Marshal(rows)
			_, err = db.ExecContext(ctx, stmt, string(j), template)
		} else {
			_, err = db.ExecContext(ctx, stmt, ids, ords, addrs, idxs, template)
		}
		if err != nil {
			return err
		}
		done += m
	}
	if gw.engine == "postgres" {
		_, err = db.ExecContext(ctx, `ANALYZE invoices`)
	}
	return err
}

// columns lists the invoices table's columns.
func columns(ctx context.Context, db *sql.DB, engine string) ([]string, error) {
	q := `SELECT name FROM pragma_table_info('invoices')`
	if engine == "postgres" {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'invoices'`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
