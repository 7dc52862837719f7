//go:build unix

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
	"github.com/cryptopay/cryptopay/internal/devnet"
)

// TestDevSandbox runs `cryptopay dev` as a developer would: it builds the
// binary, starts the sandbox, follows the printed commands to create an
// invoice, pays it with `cryptopay dev pay`, waits until the API says
// settled, and stops the sandbox with Ctrl-C (SIGINT), after which no
// btcd it started may remain.
func TestDevSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	btcd, err := regtest.BtcdPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildCryptopay(t, ctx)
	dir := t.TempDir()
	env := sandboxEnv(dir, btcd, freeAddr(t))
	run := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return code, out.String(), errOut.String()
	}

	// Before a sandbox runs, the drivers refuse clearly.
	if code, _, stderr := run("dev", "mine", "1"); code != 1 || !strings.Contains(stderr, "no sandbox is running") {
		t.Fatalf("dev mine without a sandbox: exit %d, stderr %q", code, stderr)
	}

	start := time.Now()
	dev := exec.Command(bin, "dev")
	dev.Env = env
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	dev.Stderr = &stderr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		exited <- dev.Wait() // after stdout is drained, as Wait requires
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = dev.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("dev stderr:\n%s", stderr.String())
		}
	})

	b := readBanner(t, ctx, lines)
	t.Logf("sandbox ready after %s (binary's own figure: %s)", time.Since(start).Round(time.Millisecond), b.readyIn)
	st, err := devnet.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, devnet.StateFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode: %v %v", fi.Mode(), err)
	}

	// Create an invoice exactly as the printed curl command does.
	create := b.curl["create"]
	create.body = strings.Replace(create.body, `"1001"`, `"test-1"`, 1)
	var inv struct {
		ID, Status string
	}
	if status := b.do(t, ctx, create, &inv); status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("create invoice: HTTP %d", status)
	}
	if inv.Status != "new" {
		t.Fatalf("new invoice status %q", inv.Status)
	}

	// The operator CLI, given only the printed export lines (from any
	// folder: the paths are absolute), reads the sandbox's own database
	// and creates no other.
	operator := &secEnv{t: t, vars: b.exports}
	if out := operator.must("invoices", "show", b.sample); !strings.Contains(out, b.sample) {
		t.Errorf("invoices show %s with the printed exports:\n%s", b.sample, out)
	}
	// The sandbox's database and its subject key vault (crypto-shredding
	// keys live apart from the data they erase); nothing else.
	if names, _ := filepath.Glob(filepath.Join(dir, "*.db")); len(names) != 2 ||
		filepath.Base(names[0]) != "cryptopay.db" || filepath.Base(names[1]) != "subjects.db" {
		t.Errorf("database files in the sandbox folder: %v; want only the sandbox's database and its subject vault", names)
	}
	if !filepath.IsAbs(b.exports["CRYPTOPAY_DATA_DIR"]) {
		t.Errorf("CRYPTOPAY_DATA_DIR export %q is not absolute", b.exports["CRYPTOPAY_DATA_DIR"])
	}

	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"second sandbox on the same folder", []string{"dev"}, 1, "already running"},
		{"pay without an invoice", []string{"dev", "pay"}, 2, "want one invoice id"},
		{"pay an unknown invoice", []string{"dev", "pay", "inv_01m8hqp439xhbjqmcf7n3ptjsm"}, 1, "No such invoice"},
		{"pay a negative amount", []string{"dev", "pay", inv.ID, "--amount", "-1"}, 1, "amount"},
		{"mine zero", []string{"dev", "mine", "0"}, 2, "whole number"},
		{"reorg deeper than allowed", []string{"dev", "reorg", "5000"}, 2, "whole number"},
		{"unknown dev command", []string{"dev", "fly"}, 2, "unknown dev command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}

	// Pay it with the printed command, aimed at our invoice.
	payArgs := strings.Fields(strings.Replace(b.pay, b.sample, inv.ID, 1))
	code, out, errOut := run(payArgs...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", payArgs, code, out, errOut)
	}
	if !strings.Contains(out, "is settled") {
		t.Errorf("dev pay output does not report the settlement:\n%s", out)
	}
	get := b.curl["get"]
	get.url = strings.Replace(get.url, b.sample, inv.ID, 1)
	deadline := time.Now().Add(30 * time.Second)
	for inv.Status != "settled" {
		if time.Now().After(deadline) {
			t.Fatalf("invoice still %q 30s after dev pay", inv.Status)
		}
		if status := b.do(t, ctx, get, &inv); status != http.StatusOK {
			t.Fatalf("get invoice: HTTP %d", status)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
	if code, out, errOut := run("dev", "mine", "2"); code != 0 || !strings.Contains(out, "mined 2 block(s)") {
		t.Errorf("dev mine 2: exit %d\n%s%s", code, out, errOut)
	}

	// The EVM dev chain: USDC and ETH invoices created with the printed
	// curl command, paid with `dev pay` (a plain transfer from the EVM dev
	// wallet), settled as the API shows; and the printed command for the
	// sample USDC invoice.
	if st.EVM == nil || st.EVM.ChainID != devnet.EVMChainID || st.EVM.RPCURL == "" {
		t.Fatalf("state file's EVM chain: %+v", st.EVM)
	}
	type evmInvoice struct {
		ID, Status, Network, Asset, Address string
		RequiredConfirmations               int `json:"required_confirmations"`
	}
	evmCases := []struct {
		name, order, asset string
		wantPaid           string
	}{
		{"USDC priced in USD", "test-evm-usdc", "USDC", "paid 25.000000 USDC"},
		{"ETH priced in USD", "test-evm-eth", "ETH", "paid 0.00833333333333333"},
	}
	for _, tc := range evmCases {
		t.Run(tc.name, func(t *testing.T) {
			create := b.curl["create-evm"]
			create.body = strings.Replace(strings.Replace(create.body, `"1002"`, `"`+tc.order+`"`, 1), `"asset":"USDC"`, `"asset":"`+tc.asset+`"`, 1)
			create.headers = slices.Clone(create.headers)
			for i, h := range create.headers {
				if strings.HasPrefix(h, "Idempotency-Key:") {
					create.headers[i] = "Idempotency-Key: " + tc.order
				}
			}
			var inv evmInvoice
			if status := b.do(t, ctx, create, &inv); status != http.StatusCreated {
				t.Fatalf("create: HTTP %d", status)
			}
			if inv.Network != "evm-dev" || inv.Asset != tc.asset || !strings.HasPrefix(inv.Address, "0x") || inv.RequiredConfirmations < 1 {
				t.Fatalf("created %+v", inv)
			}
			code, out, errOut := run("dev", "pay", inv.ID, "--confirm", fmt.Sprint(inv.RequiredConfirmations))
			if code != 0 || !strings.Contains(out, tc.wantPaid) || !strings.Contains(out, "is settled") {
				t.Fatalf("dev pay %s: exit %d; want %q and settled\n%s%s", inv.ID, code, tc.wantPaid, out, errOut)
			}
			get := b.curl["get"]
			get.url = strings.Replace(get.url, b.sample, inv.ID, 1)
			if status := b.do(t, ctx, get, &inv); status != http.StatusOK || inv.Status != "settled" {
				t.Errorf("API after dev pay: HTTP %d, status %q", status, inv.Status)
			}
			if code, _, stderr := run("dev", "pay", inv.ID, "--rbf"); code != 1 || !strings.Contains(stderr, "Bitcoin's") {
				t.Errorf("dev pay --rbf on an EVM invoice: exit %d, %q", code, stderr)
			}
		})
	}
	code, out, errOut = run(strings.Fields(b.evmPay)...)
	if code != 0 || !strings.Contains(out, b.evmSample) || !strings.Contains(out, "is settled") {
		t.Errorf("the printed EVM pay command %q: exit %d\n%s%s", b.evmPay, code, out, errOut)
	}
	if code, out, errOut := run("dev", "mine", "2", "--evm"); code != 0 || !strings.Contains(out, "mined 2 block(s)") {
		t.Errorf("dev mine 2 --evm: exit %d\n%s%s", code, out, errOut)
	}

	// Ctrl-C: a clean exit that leaves nothing running.
	if err := dev.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("dev exited with %v after SIGINT", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not exit within 60s of SIGINT")
	}
	for _, n := range st.Nodes {
		if syscall.Kill(n.PID, 0) == nil {
			t.Errorf("btcd %s (pid %d) still running after the sandbox stopped", n.Name, n.PID)
		}
	}
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("processes still using the data folder: %v", left)
	}
	if _, err := devnet.ReadState(dir); !errors.Is(err, devnet.ErrNotRunning) {
		t.Errorf("state file after stop: %v", err)
	}
}

// buildCryptopay builds the command from the module root into a temp dir.
func buildCryptopay(t *testing.T, ctx context.Context) string {
	t.Helper()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cryptopay")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/cryptopay")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// sandboxEnv is this process's environment without any CRYPTOPAY_
// setting of the developer's, plus the sandbox's.
func sandboxEnv(dir, btcd, listen string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRYPTOPAY_") {
			env = append(env, kv)
		}
	}
	return append(env, "CRYPTOPAY_DATA_DIR="+dir, "CRYPTOPAY_LISTEN="+listen, regtest.BtcdPathEnv+"="+btcd)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// printed is what the test takes from the banner.
type printed struct {
	readyIn   string
	key       string
	sample    string             // the sample invoice's id
	curl      map[string]curlCmd // create, get, events
	pay       string             // the dev pay command line, from "dev"
	evmPay    string             // the same for the sample USDC invoice on the EVM dev chain
	evmSample string
	exports   map[string]string // the export lines, by variable
	client    *http.Client
}

var (
	readyLine  = regexp.MustCompile(`sandbox ready in (\S+)`)
	exportLine = regexp.MustCompile(`^export CRYPTOPAY_API_KEY=(cp_test_\S+)$`)
	anyExport  = regexp.MustCompile(`^export (CRYPTOPAY_[A-Z_]+)=(\S+)$`)
	payLine    = regexp.MustCompile(` (dev pay (inv_\S+) .*)$`)
)

func readBanner(t *testing.T, ctx context.Context, lines <-chan string) *printed {
	t.Helper()
	b := &printed{curl: map[string]curlCmd{}, exports: map[string]string{}, client: &http.Client{Timeout: 10 * time.Second}}
	timeout := time.After(90 * time.Second)
	var seen []string
	for b.pay == "" || b.evmPay == "" {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
			if !ok {
				t.Fatalf("dev exited before printing its commands; stdout:\n%s", strings.Join(seen, "\n"))
			}
		case <-timeout:
			t.Fatalf("no banner within 90s; stdout so far:\n%s", strings.Join(seen, "\n"))
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		seen = append(seen, line)
		switch {
		case readyLine.MatchString(line):
			b.readyIn = readyLine.FindStringSubmatch(line)[1]
		case exportLine.MatchString(line):
			b.key = exportLine.FindStringSubmatch(line)[1]
			b.exports["CRYPTOPAY_API_KEY"] = b.key
		case anyExport.MatchString(line):
			m := anyExport.FindStringSubmatch(line)
			b.exports[m[1]] = m[2]
		case strings.HasPrefix(line, "curl "):
			c, err := parseCurl(line, map[string]string{"CRYPTOPAY_API_KEY": b.key})
			if err != nil {
				t.Fatalf("printed curl command %q: %v", line, err)
			}
			switch {
			case c.method == http.MethodPost && strings.Contains(c.body, `"evm-dev"`):
				b.curl["create-evm"] = c
			case c.method == http.MethodPost:
				b.curl["create"] = c
			case strings.Contains(c.url, "/v1/events"):
				b.curl["events"] = c
			default:
				b.curl["get"] = c
			}
		case payLine.MatchString(line):
			m := payLine.FindStringSubmatch(line)
			if b.pay == "" { // Bitcoin's comes first
				b.pay, b.sample = m[1], m[2]
			} else {
				b.evmPay, b.evmSample = m[1], m[2]
			}
		}
	}
	if b.key == "" || len(b.curl) != 4 {
		t.Fatalf("banner lacks the key or a curl command:\n%s", strings.Join(seen, "\n"))
	}
	return b
}

// do sends c and decodes a JSON answer into out; it returns the status.
func (b *printed) do(t *testing.T, ctx context.Context, c curlCmd, out any) int {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range c.headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if c.body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // what curl -d sends
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", c.method, c.url, err, raw)
		}
	} else {
		t.Logf("%s %s: %s", c.method, c.url, raw)
	}
	return resp.StatusCode
}

// processesMentioning lists /proc entries whose command line names dir
// (nothing on systems without /proc).
func processesMentioning(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			out = append(out, fmt.Sprintf("%s: %s", e.Name(), strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	return out
}
