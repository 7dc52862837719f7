// Package metrics is the gateway's Prometheus instrumentation: one
// registry, the instruments the workers report to through small hooks,
// and collectors that read counts from the database at scrape time.
//
// It is not an HTTP server: serve mounts Handler on the admin listener
// (CRYPTOPAY_ADMIN_ADDR) or behind a bearer token. It never records a
// secret, an address or an amount as a label; labels are closed sets
// (network, status, method, result, reason) so a scrape stays small.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and the gateway's instruments. The zero value
// is not usable; a nil *Metrics is, and records nothing, so a component
// built without metrics (tests, the CLI's one-shot commands) needs no
// branch.
type Metrics struct {
	reg *prometheus.Registry

	detection     *prometheus.HistogramVec
	rpcErrors     *prometheus.CounterVec
	webhook       *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	batch         *prometheus.HistogramVec
	processedTip  *prometheus.GaugeVec
	nodeBlocks    *prometheus.GaugeVec
	nodeHeaders   *prometheus.GaugeVec
	nodeLag       *prometheus.GaugeVec
	confirmLag    *prometheus.GaugeVec
	rateSourceUp  *prometheus.GaugeVec
	rateSourceAge *prometheus.GaugeVec
}

// New returns the instruments registered on a fresh registry, with the Go
// runtime and process collectors beside them.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.detection = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cryptopay_payment_detection_seconds",
		Help: "Time from the start of the watcher pass that found a new payment to the commit that recorded it.",
		// From a millisecond (a pushed mempool transaction) to a minute (a
		// long catch-up pass).
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 13),
	}, []string{"network"})
	m.rpcErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cryptopay_node_rpc_errors_total",
		Help: "Failed node RPC calls by method and kind (node: the node answered with an error; transport: no answer; response: an answer the gateway refused).",
	}, []string{"method", "kind"})
	m.webhook = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cryptopay_webhook_attempts_total",
		Help: "Webhook delivery attempts by result: succeeded, retrying (failed, another attempt scheduled), failed (given up) or not_sent (endpoint disabled).",
	}, []string{"result"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cryptopay_http_rejections_total",
		Help: "API requests refused by reason: rate_limited (429) or auth_failed (401).",
	}, []string{"reason"})
	m.batch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cryptopay_storage_group_commit_batch_size",
		Help:    "Writes committed together by SQLite group commit, by queue (priority: the chain path; ordinary: the API).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	}, []string{"queue"})
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m.processedTip = gauge("cryptopay_chain_tip_height", "Height of the last block the chain watcher processed and stored.", "network")
	m.nodeBlocks = gauge("cryptopay_node_blocks", "Blocks the node has validated (getblockchaininfo blocks).", "network")
	m.nodeHeaders = gauge("cryptopay_node_headers", "Headers the node knows of (getblockchaininfo headers).", "network")
	m.nodeLag = gauge("cryptopay_node_lag_blocks", "How far the node's validated chain is behind the headers it knows (headers - blocks).", "network")
	m.confirmLag = gauge("cryptopay_chain_confirmation_lag_blocks", "How far the gateway's processed tip is behind the node's (node blocks - processed height): confirmations not yet counted.", "network")
	m.rateSourceUp = gauge("cryptopay_rate_source_up", "1 when the exchange rate source last answered, 0 when it failed (see RateSourceHealth).", "source")
	m.rateSourceAge = gauge("cryptopay_rate_source_age_seconds", "Age of the rates the source last served.", "source")
	m.reg.MustRegister(m.detection, m.rpcErrors, m.webhook, m.rejected, m.batch,
		m.processedTip, m.nodeBlocks, m.nodeHeaders, m.nodeLag, m.confirmLag, m.rateSourceUp, m.rateSourceAge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Register adds a collector (such as NewDBCollector) to the registry.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// PaymentDetected records how long the watcher took to record a new
// payment, from the start of the pass that found it.
func (m *Metrics) PaymentDetected(network string, d time.Duration) {
	if m == nil {
		return
	}
	m.detection.WithLabelValues(network).Observe(d.Seconds())
}

// ChainProcessed records the height of the block the watcher last stored.
func (m *Metrics) ChainProcessed(network string, height int64) {
	if m == nil {
		return
	}
	m.processedTip.WithLabelValues(network).Set(float64(height))
}

// NodeStatus records what the node reports of its own chain and, with the
// gateway's processed height, how many blocks the gateway has yet to count.
func (m *Metrics) NodeStatus(network string, blocks, headers, processed int64) {
	if m == nil {
		return
	}
	m.nodeBlocks.WithLabelValues(network).Set(float64(blocks))
	m.nodeHeaders.WithLabelValues(network).Set(float64(headers))
	m.nodeLag.WithLabelValues(network).Set(float64(max(headers-blocks, 0)))
	if processed >= 0 {
		m.confirmLag.WithLabelValues(network).Set(float64(max(blocks-processed, 0)))
	}
}

// RPCError counts a failed node call; kind is node, transport or response.
func (m *Metrics) RPCError(method, kind string) {
	if m == nil {
		return
	}
	m.rpcErrors.WithLabelValues(method, kind).Inc()
}

// WebhookAttempt counts one delivery attempt by its result.
func (m *Metrics) WebhookAttempt(result string) {
	if m == nil {
		return
	}
	m.webhook.WithLabelValues(result).Inc()
}

// Rejected counts an API request refused for reason (rate_limited,
// auth_failed).
func (m *Metrics) Rejected(reason string) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(reason).Inc()
}

// GroupCommitBatch records the size of one SQLite group-commit batch.
func (m *Metrics) GroupCommitBatch(size int, priority bool) {
	if m == nil {
		return
	}
	m.batch.WithLabelValues(map[bool]string{true: "priority", false: "ordinary"}[priority]).Observe(float64(size))
}

// RateSourceHealth is the hook for a live exchange rate source: it reports
// whether the source's last fetch succeeded and how old the rates it
// serves are. The static table (CRYPTOPAY_RATES) never calls it.
func (m *Metrics) RateSourceHealth(source string, ok bool, age time.Duration) {
	if m == nil {
		return
	}
	up := 0.0
	if ok {
		up = 1
	}
	m.rateSourceUp.WithLabelValues(source).Set(up)
	m.rateSourceAge.WithLabelValues(source).Set(age.Seconds())
}

// Middleware counts the API's rate-limit (429) and authentication (401)
// refusals as they are written, whichever layer writes them.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&statusWriter{ResponseWriter: w, m: m}, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	m     *Metrics
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.wrote = true
		switch code {
		case http.StatusTooManyRequests:
			s.m.Rejected("rate_limited")
		case http.StatusUnauthorized:
			s.m.Rejected("auth_failed")
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true // an implicit 200
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer
// (flushing the checkout page's event stream).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// dbCollector reads counts from the database at scrape time, so they are
// right across restarts and across instances sharing a database.
type dbCollector struct {
	db       *sql.DB
	postgres bool
	timeout  time.Duration
	invoices *prometheus.Desc
	queue    *prometheus.Desc
	up       *prometheus.Desc
}

// NewDBCollector returns a collector of invoices by network and status and
// of the webhook delivery queue's depth (pending deliveries) on db, whose
// engine is "sqlite" or "postgres" (storage.DB's Engine).
//
// The invoice counts never count the invoices table (a scan of every
// invoice on each scrape): triggers keep invoice_counts in the
// transaction of every insert, status change and delete of an invoice
// (migration 0022). On PostgreSQL the triggers append delta rows instead
// of updating shared counters, so concurrent creations never wait on one
// another, and each scrape first folds the deltas into invoice_counts;
// its cost follows the invoice changes since the last scrape. A scrape
// shows every change committed before it. A network and status that once
// had invoices and has none now is reported as 0 rather than dropped, so
// its series does not go stale.
func NewDBCollector(db *sql.DB, engine string) prometheus.Collector {
	return &dbCollector{
		db: db, postgres: engine == "postgres", timeout: 5 * time.Second,
		invoices: prometheus.NewDesc("cryptopay_invoices", "Invoices by network and status.", []string{"network", "status"}, nil),
		queue:    prometheus.NewDesc("cryptopay_webhook_queue_depth", "Webhook deliveries waiting for a (next) attempt.", nil, nil),
		up:       prometheus.NewDesc("cryptopay_database_up", "1 when the scrape could read the database.", nil, nil),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.invoices
	ch <- c.queue
	ch <- c.up
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ok := c.collect(ctx, ch) == nil
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, map[bool]float64{true: 1, false: 0}[ok])
}

// foldCountDeltas moves PostgreSQL's pending count deltas into
// invoice_counts in one statement: DELETE ... RETURNING takes exactly the
// deltas it removes, so two instances scraping at once never fold one
// twice (the second waits on the first's deleted rows, then skips them).
const foldCountDeltas = `WITH moved AS (DELETE FROM invoice_count_deltas RETURNING network, status, delta)
	INSERT INTO invoice_counts AS c (network, status, n)
	SELECT network, status, SUM(delta) FROM moved GROUP BY network, status
	ON CONFLICT (network, status) DO UPDATE SET n = c.n + excluded.n`

func (c *dbCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	if c.postgres {
		if _, err := c.db.ExecContext(ctx, foldCountDeltas); err != nil {
			return err
		}
	}
	rows, err := c.db.QueryContext(ctx, `SELECT network, status, n FROM invoice_counts`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var network, status string
		var n int64
		if err := rows.Scan(&network, &status, &n); err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(c.invoices, prometheus.GaugeValue, float64(n), network, status)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var pending int64
	if err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&pending); err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(pending))
	return nil
}
