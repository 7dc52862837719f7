// Command cryptopay-bench measures the gateway against its floors, in one
// process tree and in interleaved rounds, and prints medians and ratios:
//
//   - API invoice creation (POST /v1/invoices) on SQLite and PostgreSQL at
//     1 and 32 clients, beside a bare single-row INSERT of the same engine
//     at the same concurrency (the loadgen's bare-sqlite / bare-pg modes);
//   - API reads (GET /v1/invoices/{id}) and lists (GET /v1/invoices, and
//     with a status filter) with the store holding -invoices invoices
//     (1,000,000 by default), after printing the plan of every list shape
//     the API and the dashboard use (-explain);
//   - webhook deliveries against bare signed POSTs (BenchmarkDelivery in
//     internal/webhook, run -rounds times): a backlog drained, and events
//     delivered while they are written.
//
// It needs the load generator's source directory (-loadgen, a Go module
// with its own main package) and a PostgreSQL server (-pg; each run works
// in a schema of its own, dropped at the end). It builds the gateway from
// this checkout. The machine is assumed shared and noisy: every ratio is
// taken within one round, and the medians over rounds are reported.
//
//	go run ./cmd/cryptopay-bench -loadgen ../loadgen -pg 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cryptopay-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	loadgen  string
	pg       string
	rounds   int
	dur      time.Duration
	warmup   time.Duration
	invoices int
	only     string
	webhooks bool
	src      string
	explain  bool
}

func run() error {
	var o options
	flag.StringVar(&o.loadgen, "loadgen", os.Getenv("LOADGEN_DIR"), "the load generator's source directory (or $LOADGEN_DIR)")
	flag.StringVar(&o.pg, "pg", os.Getenv("CRYPTOPAY_TEST_POSTGRES_URL"), "PostgreSQL URL (or $CRYPTOPAY_TEST_POSTGRES_URL); a schema of its own is used")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds")
	flag.DurationVar(&o.dur, "d", 3*time.Second, "measured duration of each run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up of each run")
	flag.IntVar(&o.invoices, "invoices", 1_000_000, "invoices in the store for the read and list runs (0 skips them)")
	flag.StringVar(&o.only, "engines", "sqlite,postgres", "engines to measure")
	flag.BoolVar(&o.webhooks, "webhooks", true, "run the webhook delivery benchmark")
	flag.StringVar(&o.src, "src", ".", "checkout to build the gateway from (another revision, to compare)")
	flag.BoolVar(&o.explain, "explain", true, "after seeding, print each list shape's plan (EXPLAIN ANALYZE on PostgreSQL) to stderr")
	flag.Parse()
	if o.loadgen == "" {
		return errors.New("-loadgen is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work, err := os.MkdirTemp("", "cryptopay-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	b := &bench{o: o, work: work}
	fmt.Fprintln(os.Stderr, conditions())
	if err := b.build(ctx); err != nil {
		return err
	}
	var gws []*gateway
	for _, eng := range strings.Split(o.only, ",") {
		gw, err := b.start(ctx, eng)
		if err != nil {
			return err
		}
		defer gw.stop()
		gws = append(gws, gw)
	}
	var res results
	b.creation(ctx, gws, &res)
	if o.invoices > 0 {
		for _, gw := range gws {
			fmt.Fprintf(os.Stderr, "seeding %d invoices on %s...\n", o.invoices, gw.engine)
			if err := gw.seed(ctx, o.invoices); err != nil {
				return fmt.Errorf("seed %s: %w", gw.engine, err)
			}
			if o.explain {
				if err := gw.explain(ctx, os.Stderr); err != nil {
					return fmt.Errorf("explain %s: %w", gw.engine, err)
				}
			}
		}
		b.reads(ctx, gws, &res)
	}
	res.print(os.Stdout, gws)
	if o.webhooks {
		if err := b.webhooks(ctx); err != nil {
			return err
		}
	}
	return nil
}

type bench struct {
	o       options
	work    string
	gateway string // built binary
	lg      string // built load generator
}

func (b *bench) build(ctx context.Context) error {
	b.gateway = filepath.Join(b.work, "cryptopay")
	b.lg = filepath.Join(b.work, "loadgen")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.gateway, "./cmd/cryptopay")
	cmd.Dir = b.o.src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build gateway: %w", err)
	}
	lg, err := filepath.Abs(b.o.loadgen)
	if err != nil {
		return err
	}
	cmd = exec.CommandContext(ctx, "go", "build", "-o", b.lg, ".")
	cmd.Dir = lg
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build loadgen: %w", err)
	}
	return nil
}

// loadgen runs one measurement and returns its JSON result.
func (b *bench) loadgen(ctx context.Context, args ...string) (lgResult, error) {
	args = append([]string{"-json", "-d", b.o.dur.String(), "-warmup", b.o.warmup.String()}, args...)
	out, err := exec.CommandContext(ctx, b.lg, args...).Output()
	var r lgResult
	if err != nil {
		return r, fmt.Errorf("loadgen %v: %w", args, err)
	}
	if err := json.Unmarshal(lastLine(out), &r); err != nil {
		return r, fmt.Errorf("loadgen output %q: %w", out, err)
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("loadgen %v: %d errors, first: %s", args, r.Errors, r.FirstErr)
	}
	return r, nil
}

func lastLine(b []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return []byte(lines[len(lines)-1])
}

type lgResult struct {
	OK       int     `json:"ok"`
	Errors   int     `json:"errors"`
	OpsPerS  float64 `json:"ops_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	FirstErr string  `json:"first_error"`
	Load1    float64 `json:"-"` // the machine's 1-minute load average when the run ended (-1 if unknown)
}

// loadAverage returns the 1-minute load average (Linux's /proc/loadavg),
// -1 where it cannot be read: latency percentiles on a shared machine
// mean little without it.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var v float64
	if _, err := fmt.Sscan(string(b), &v); err != nil {
		return -1
	}
	return v
}

// conditions describes what every figure was measured under: the CPUs the
// gateway, the load generator and the databases share, the GOMAXPROCS the
// gateway inherits (it gets this process's environment) and the load.
func conditions() string {
	gmp := "default"
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		gmp = v
	}
	return fmt.Sprintf("conditions: %d CPUs shared by gateway, load generator and databases; GOMAXPROCS %d here, %s (from the environment) in the gateway; load average at start %.1f; clients per run in each name (c=N)",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), gmp, loadAverage())
}

// creation runs the creation targets and their bare floors, interleaved.
func (b *bench) creation(ctx context.Context, gws []*gateway, res *results) {
	for round := 1; round <= b.o.rounds; round++ {
		for _, c := range []int{32, 1} {
			for _, gw := range gws {
				cs := fmt.Sprint(c)
				api := fmt.Sprintf("create %s c=%d", gw.engine, c)
				bare := fmt.Sprintf("bare insert %s c=%d", gw.engine, c)
				res.add(api, b.measure(ctx, api, round, "-c", cs, "-url", gw.url+"/v1/invoices",
					"-H", "Authorization: Bearer "+gw.key,
					"-body", `{"order_id":"{{run}}-{{seq}}","amount":"0.0015","currency":"BTC"}`))
				res.add(bare, b.measure(ctx, bare, round, append([]string{"-c", cs}, gw.bareArgs()...)...))
				res.ratio(api+" / bare", api, bare, round)
			}
		}
	}
}

// reads runs gets and lists over the seeded store, interleaved.
func (b *bench) reads(ctx context.Context, gws []*gateway, res *results) {
	for round := 1; round <= b.o.rounds; round++ {
		for _, gw := range gws {
			get := fmt.Sprintf("get %s c=8", gw.engine)
			res.add(get, b.measure(ctx, get, round, "-method", "GET", "-c", "8", "-lines", gw.ids,
				"-url", gw.url+"/v1/invoices/{{line}}", "-H", "Authorization: Bearer "+gw.key))
			// Lists at 8 clients and at 1: on a machine with fewer cores
			// than clients (the gateway, PostgreSQL and the load
			// generator share them) the 8-client p99 is mostly time
			// spent waiting for a core; the 1-client figures show what a
			// page itself costs.
			for _, c := range []string{"8", "1"} {
				list := fmt.Sprintf("list(limit=100) %s c=%s", gw.engine, c)
				res.add(list, b.measure(ctx, list, round, "-method", "GET", "-c", c, "-lines", gw.ids,
					"-url", gw.url+"/v1/invoices?limit=100&starting_after={{line}}", "-H", "Authorization: Bearer "+gw.key))
			}
			status := fmt.Sprintf("list(status,limit=100) %s c=8", gw.engine)
			res.add(status, b.measure(ctx, status, round, "-method", "GET", "-c", "8", "-lines", gw.ids,
				"-url", gw.url+"/v1/invoices?status=new&limit=100&starting_after={{line}}", "-H", "Authorization: Bearer "+gw.key))
		}
	}
}

func (b *bench) measure(ctx context.Context, name string, round int, args ...string) *lgResult {
	r, err := b.loadgen(ctx, args...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "round %d %s: %v\n", round, name, err)
		return nil
	}
	r.Load1 = loadAverage()
	fmt.Fprintf(os.Stderr, "round %d %-28s %9.0f ops/s  p50 %6.2f ms  p99 %6.2f ms  load1 %.1f\n", round, name, r.OpsPerS, r.P50ms, r.P99ms, r.Load1)
	return &r
}

// webhooks runs the webhook package's delivery benchmark: its test binary
// is built once and run -rounds times. Per engine it prints the deliverer
// alone (a backlog of pending deliveries drained) and "-live" (events
// written by four writers while delivering, bounded by those writers'
// commits; their events/s is printed beside it), each with its ratio to
// bare signed POSTs measured right before it (x-bare).
func (b *bench) webhooks(ctx context.Context) error {
	bin := filepath.Join(b.work, "webhook.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./internal/webhook")
	build.Dir = b.o.src
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build webhook benchmark: %w", err)
	}
	const events = 4000
	// metrics[name][unit] holds one value per round.
	metrics := map[string]map[string][]float64{}
	var order []string
	line := regexp.MustCompile(`(?m)^BenchmarkDelivery/(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	metric := regexp.MustCompile(`([\d.e+-]+) (\S+)`)
	for round := 1; round <= b.o.rounds; round++ {
		cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", "^BenchmarkDelivery$",
			"-test.benchtime", fmt.Sprintf("%dx", events), "-test.count", "1")
		cmd.Dir = filepath.Join(b.o.src, "internal", "webhook")
		cmd.Env = append(os.Environ(), "CRYPTOPAY_TEST_POSTGRES_URL="+b.o.pg)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("webhook benchmark: %w\n%s", err, out)
		}
		for _, m := range line.FindAllStringSubmatch(string(out), -1) {
			name := m[1]
			if metrics[name] == nil {
				metrics[name] = map[string][]float64{}
				order = append(order, name)
			}
			for _, mm := range metric.FindAllStringSubmatch(m[2], -1) {
				metrics[name][mm[2]] = append(metrics[name][mm[2]], parseFloat(mm[1]))
			}
			fmt.Fprintf(os.Stderr, "round %d webhooks %-26s %s\n", round, name, strings.Join(strings.Fields(m[2]), " "))
		}
	}
	fmt.Printf("\nwebhook deliveries (BenchmarkDelivery, %d events per run, 32 workers; <engine>: a backlog drained,\n", events)
	fmt.Println("<engine>-live: written by 4 writers while delivering; ratios to bare signed POSTs sent right before)")
	for _, name := range order {
		m := metrics[name]
		out := fmt.Sprintf("  %-28s median %9.0f deliveries/s", name, median(m["deliveries/s"]))
		if rs := m["x-bare"]; len(rs) > 0 {
			out += fmt.Sprintf("  bare %6.0f/s  ratio to bare POSTs: median %.3f (rounds %s)",
				median(m["bare-POSTs/s"]), median(rs), fmtList(rs))
		}
		if ev := m["events/s"]; len(ev) > 0 {
			out += fmt.Sprintf("  events written: median %.0f/s", median(ev))
		}
		fmt.Println(out)
	}
	return nil
}

func parseFloat(s string) float64 {
	var v float64
	_, _ = fmt.Sscan(s, &v)
	return v
}

// freePort returns a loopback address nothing listens on.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url until it answers.
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within a minute", url)
}

// field returns the value after prefix on a line of out.
func field(out, prefix string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}
