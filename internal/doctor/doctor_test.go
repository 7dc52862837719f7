package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/cryptopay/cryptopay"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/httpapi"
	"github.com/cryptopay/cryptopay/internal/rates"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/storage/sqlite"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

const regtestVpub = "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"

// setup is one gateway installation: a home directory, variables, a
// migrated database with one store and one key.
type setup struct {
	home string
	vars map[string]string
	in   *Input
	svc  *gateway.Service
}

func newSetup(t *testing.T, vars map[string]string, files map[string]string) *setup {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s := &setup{home: filepath.Join(dir, "home"), vars: map[string]string{"CRYPTOPAY_DATA_DIR": dir}}
	os.MkdirAll(s.home, 0o700)
	s.vars["HOME"] = s.home
	for k, v := range vars {
		s.vars[k] = strings.ReplaceAll(v, "$DIR", dir)
	}
	for name, body := range files {
		write(t, filepath.Join(dir, name), body, 0o600)
	}
	getenv := func(k string) string { return s.vars[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	layered, err := config.Layered(getenv)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "cryptopay.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs, _ := rates.ParseStatic("")
	s.svc = gateway.New(gateway.Config{DB: db, Outbox: outboxOn(db), Rates: rs})
	st, err := s.svc.CreateStore(ctx, gateway.StoreParams{Name: "Shop",
		Wallets: []gateway.WalletParams{{Network: "bitcoin-regtest", AccountKey: regtestVpub}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.CreateKey(ctx, gateway.KeyParams{StoreID: st.ID, Name: "shop", Scopes: []string{"invoices:write"}, TTL: 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Service: s.svc, TrustedProxies: cfg.TrustedProxies})
	s.in = &Input{Config: cfg, Env: layered, Getenv: getenv, DB: db, Handler: api.Handler(),
		Rates: func(context.Context) (rates.Status, bool) { return rates.Status{}, false }} // none configured
	return s
}

func write(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func TestDoctor(t *testing.T) {
	ctx := context.Background()

	// A production-ready installation: every item passes.
	good := newSetup(t, map[string]string{
		"CRYPTOPAY_TLS_CERT_FILE": "$DIR/cert.pem", "CRYPTOPAY_TLS_KEY_FILE": "$DIR/key.pem",
		"CRYPTOPAY_ENCRYPTION_KEY_FILE": "$DIR/enc.key",
		"CRYPTOPAY_BACKUP_DIR":          "$DIR", "CRYPTOPAY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
		"CRYPTOPAY_ALERT_WEBHOOK_URL":  "https://hooks.example.com/T000/B000",
		"CRYPTOPAY_CONFIG_FILE":        "$DIR/cryptopay.env",
		"CRYPTOPAY_EMERGENCY_CONTACTS": "security@shop.example",
		"CRYPTOPAY_SMTP_ADDR":          "smtp.shop.example:587",
	}, map[string]string{"cert.pem": "cert", "key.pem": "key", "enc.key": strings.Repeat("ab", 32), "cryptopay.env": "CRYPTOPAY_LOG_LEVEL=info\n"})
	write(t, filepath.Join(good.home, ".bash_history"), "ls\ncurl -H \"Authorization: Bearer $CRYPTOPAY_API_KEY\" ...\n", 0o600)
	_, err := good.in.DB.SQL().ExecContext(ctx, `INSERT INTO webhook_endpoints (id, store_id, livemode, url, description, event_types, enabled,
		disabled_reason, secret, previous_secret, created_at, updated_at) SELECT 'we_1', id, 0, 'https://shop.example.com/hook', '', '[]', 1, '', 's', '', 0, 0 FROM stores`)
	if err != nil {
		t.Fatal(err)
	}
	writeCheckpoint(t, good)
	good.in.Node = func(context.Context) (cryptopay.Network, error) { return cryptopay.NetworkBitcoinRegtest, nil }
	// An EVM node that answers as configured, with a factory.
	good.in.Config.EVM = config.EVM{Network: "ethereum", RPCURL: "http://127.0.0.1:8545", Factory: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}
	good.in.EVM = func(context.Context) (string, error) { return "ethereum (chain id 1) at block 1", nil }
	good.in.EVMSweep = func(context.Context) ([]EVMSweepFacts, error) {
		return []EVMSweepFacts{{Factory: good.in.Config.EVM.Factory, FactoryDeployed: true, GasKeySet: true, Asset: "ETH",
			GasAddress: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", GasBalance: big.NewInt(2e18), MinBalance: big.NewInt(1e18)}}, nil
	}
	rs := Run(ctx, good.in)
	var out bytes.Buffer
	Write(&out, rs)
	for _, r := range rs {
		if r.Status != Pass {
			t.Errorf("good setup: %s is %s: %s", r.Name, r.Status, r.Detail)
		}
	}
	if Failed(rs) || len(rs) != len(Checks()) {
		t.Errorf("good setup fails:\n%s", out.String())
	}

	// A careless installation: every item fails (the scope check, a
	// judgement, warns).
	bad := newSetup(t, map[string]string{
		"CRYPTOPAY_RATE_LIMIT_IP":   "off",
		"CRYPTOPAY_TRUSTED_PROXIES": "0.0.0.0/0,::/0",
		"CRYPTOPAY_CONFIG_FILE":     "$DIR/cryptopay.env",
		// Lowered below the default policy's 24 confirmations after the
		// store was made: its invoices could never settle.
		"CRYPTOPAY_BITCOIN_REORG_LIMIT": "6",
	}, map[string]string{"cryptopay.env": "CRYPTOPAY_API_KEY=cp_live_" + strings.Repeat("Z", 40) + "\n"})
	write(t, filepath.Join(bad.home, ".zsh_history"), ": 1700000000:0;export KEY=cp_test_"+strings.Repeat("q", 40)+"\n", 0o600)
	_, err = bad.in.DB.SQL().ExecContext(ctx, `INSERT INTO webhook_endpoints (id, store_id, livemode, url, description, event_types, enabled,
		disabled_reason, secret, previous_secret, created_at, updated_at) SELECT 'we_2', id, 1, 'http://shop.example.com/hook', '', '[]', 1, '', 's', '', 0, 0 FROM stores`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.svc.CreateStore(ctx, gateway.StoreParams{Name: "Live", Livemode: true,
		Wallets: []gateway.WalletParams{{Network: "bitcoin", AccountKey: bip84Zpub}}}); err != nil {
		t.Fatal(err)
	}
	// An incident left open: the gateway is still frozen.
	if _, err := bad.svc.Freeze(ctx, "forgotten"); err != nil {
		t.Fatal(err)
	}
	bad.in.Config.DatabaseURL = "postgres://db.example.com/cryptopay?sslmode=disable"
	bad.in.Handler = http.NotFoundHandler() // a build without the headers
	bad.in.Config.EVM = config.EVM{Network: "ethereum", RPCURL: "http://127.0.0.1:8545"}
	bad.in.EVM = func(context.Context) (string, error) {
		return "", errors.New("the node serves chain id 5, not ethereum's 1")
	}
	bad.in.EVMSweep = func(context.Context) ([]EVMSweepFacts, error) { return nil, nil }
	bad.in.Now = time.Now().Add(100 * 24 * time.Hour)
	rs = Run(ctx, bad.in)
	out.Reset()
	Write(&out, rs)
	want := map[string]Status{"API keys hold only the scopes they use": Warn}
	for _, r := range rs {
		w := want[r.Name]
		if w == "" {
			w = Fail
		}
		if r.Status != w {
			t.Errorf("bad setup: %s is %s (%s), want %s", r.Name, r.Status, r.Detail, w)
		}
		if r.Fix == "" {
			t.Errorf("bad setup: %s has no fix", r.Name)
		}
	}
	if !Failed(rs) {
		t.Error("bad setup passes")
	}
	for _, leak := range []string{strings.Repeat("Z", 40), strings.Repeat("q", 40)} {
		if strings.Contains(out.String(), leak) {
			t.Error("the report prints a key secret")
		}
	}
	t.Logf("\n%s", out.String())
}

func TestTrustedProxiesCheck(t *testing.T) {
	for _, tc := range []struct {
		name, proxies string
		force         bool
		want, https   Status
	}{
		{"none", "", false, Pass, ""},
		{"private", "10.0.0.0/8,fd00:1::/48", false, Pass, Pass},
		{"everything", "0.0.0.0/0,::/0", false, Fail, Fail},
		{"public /24", "203.0.113.0/24", false, Fail, Fail},
		{"public /24, forced", "203.0.113.0/24", true, Warn, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(func(k string) string {
				return map[string]string{"CRYPTOPAY_TRUSTED_PROXIES": tc.proxies}[k]
			})
			if err != nil {
				t.Fatal(err)
			}
			cfg.TrustedProxiesForce = tc.force
			in := &Input{Config: cfg}
			if r := checkTrustedProxies(context.Background(), in); r.Status != tc.want {
				t.Errorf("trusted proxies check: %s (%s), want %s", r.Status, r.Detail, tc.want)
			}
			if tc.https != "" {
				if r := checkHTTPS(context.Background(), in); r.Status != tc.https {
					t.Errorf("HTTPS check: %s (%s), want %s", r.Status, r.Detail, tc.https)
				}
			}
		})
	}
}

// writeCheckpoint signs the setup's audit head as serve would.
func writeCheckpoint(t *testing.T, s *setup) {
	t.Helper()
	kr, err := s.in.Config.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	seq, hash, err := s.in.DB.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := kr.AuditKey(kr.PrimaryID())
	b, _ := json.Marshal(storage.NewAuditCheckpoint(seq, hash, time.Now(), kr.PrimaryID(), key))
	write(t, s.in.Config.AuditCheckpointFile, string(b)+"\n", 0o600)
}

func TestAuditLogCheck(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		checkpoint bool
		tamper     []string
		want       Status
		says       string
	}{
		{"intact, checkpointed", true, nil, Pass, "against 1 checkpoint"},
		{"intact, no checkpoint yet", false, nil, Warn, "no checkpoint"},
		{"newest entry removed, head moved back", true, []string{`DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)`,
			`UPDATE audit_chain_head SET seq = seq - 1, hash = (SELECT hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)) WHERE id = 1`}, Fail, "truncated"},
		{"entry changed", false, []string{`UPDATE audit_log SET target = 'x' WHERE seq = 1`}, Fail, "changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, map[string]string{"CRYPTOPAY_ENCRYPTION_KEY": strings.Repeat("cd", 32)}, nil)
			if tc.checkpoint {
				writeCheckpoint(t, s)
			}
			for _, q := range tc.tamper {
				if _, err := s.in.DB.SQL().ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			r := checkAuditLog(ctx, s.in)
			if r.Status != tc.want || !strings.Contains(r.Detail, tc.says) {
				t.Errorf("%s: %s; want %s saying %q", r.Status, r.Detail, tc.want, tc.says)
			}
		})
	}
}

func TestWebhookCheckSkipsWithoutTable(t *testing.T) {
	s := newSetup(t, nil, nil)
	if _, err := s.in.DB.SQL().ExecContext(context.Background(), `DROP TABLE webhook_endpoints`); err != nil {
		t.Skipf("cannot drop the table: %v", err)
	}
	if r := checkWebhookURLs(context.Background(), s.in); r.Status != Skip {
		t.Errorf("without the table: %+v", r)
	}
}

func TestDatabaseTLSModes(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Status
	}{
		{"postgres://db.example.com/x?sslmode=verify-full", Pass},
		{"postgres://db.example.com/x?sslmode=require", Warn},
		{"postgres://db.example.com/x?sslmode=verify-ca", Warn},
		{"postgres://db.example.com/x", Fail},
		{"postgres://10.1.2.3/x?sslmode=prefer", Fail},
		{"postgres://127.0.0.1/x?sslmode=disable", Pass},
		{"postgres://localhost/x", Pass},
		{"postgresql://[::1]:5432/x", Pass},
		{"/var/lib/cryptopay/cryptopay.db", Pass},
	} {
		r := checkDatabaseTLS(context.Background(), &Input{Config: &config.Config{DatabaseURL: tc.url}})
		if r.Status != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.url, r.Status, r.Detail, tc.want)
		}
	}
}

// bip84Zpub is the BIP84 test vector's mainnet account public key.
const bip84Zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"

// outboxOn is the webhook outbox on db that the test's services write
// their events through, as serve wires them.
func outboxOn(db storage.DB) *webhook.Outbox {
	ob, err := webhook.NewOutbox(db, nil)
	if err != nil {
		panic(err)
	}
	return ob
}
