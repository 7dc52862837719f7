package cli

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/devnet"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/strictjson"
)

// The control endpoint lets `dev pay|mine|reorg`, separate processes, ask
// the sandbox to act: it owns the wallet (which remembers its own
// transactions, needed to double-spend them) and the nodes. It listens on
// a random loopback port and wants the random token of the state file,
// which only the developer's user can read.

const (
	controlTimeout = 3 * time.Minute  // a pay with many confirmations and waits
	observeTimeout = 20 * time.Second // how long pay waits for the gateway to see a step
	maxDevBlocks   = 1000
)

type control struct {
	url, token string
	srv        *http.Server
	a          *app
	chain      *devnet.Net
	evm        *devnet.EVMNet
	storeID    string // the sandbox's store, whose keys /keys makes
}

func startControl(a *app, chain *devnet.Net, evm *devnet.EVMNet, storeID string) (*control, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("control endpoint: %w", err)
	}
	c := &control{url: "http://" + ln.Addr().String(), token: randomToken(), a: a, chain: chain, evm: evm, storeID: storeID}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", c.handle(func(context.Context, []byte) (any, error) { return struct{}{}, nil }))
	mux.HandleFunc("POST /pay", c.handle(c.pay))
	mux.HandleFunc("POST /mine", c.handle(c.mine))
	mux.HandleFunc("POST /reorg", c.handle(c.reorg))
	mux.HandleFunc("POST /keys", c.handle(c.mintKey))
	mux.HandleFunc("POST /keys/revoke", c.handle(c.revokeKey))
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = c.srv.Serve(ln) }() // ends with ErrServerClosed on Close
	return c, nil
}

// Close stops the endpoint; an operation in flight is cut off.
func (c *control) Close() error { return c.srv.Close() }

// controlError is a refusal the developer can act on (a 4xx).
type controlError struct{ msg string }

func (e controlError) Error() string { return e.msg }

func (c *control) handle(fn func(context.Context, []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) != 1 {
			writeControl(w, http.StatusUnauthorized, map[string]string{"error": "wrong control token"})
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			writeControl(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if len(body) > 0 {
			if err := strictjson.CheckContentType(r.Header.Get("Content-Type")); err != nil {
				writeControl(w, http.StatusUnsupportedMediaType, map[string]string{"error": describe(err)})
				return
			}
		}
		out, err := fn(r.Context(), body)
		switch {
		case err == nil:
			writeControl(w, http.StatusOK, out)
		case errors.As(err, new(controlError)) || errors.As(err, new(*cryptopay.Error)):
			writeControl(w, http.StatusBadRequest, map[string]string{"error": describe(err)})
		default:
			c.a.log.Error("dev command failed", "path", r.URL.Path, "err", err)
			writeControl(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		}
	}
}

func writeControl(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type payRequest struct {
	Invoice     string `json:"invoice"`
	Amount      string `json:"amount"` // in the invoice's asset, decimal; "" pays what is still due
	RBF         bool   `json:"rbf"`
	DoubleSpend bool   `json:"double_spend"`
	Confirm     int    `json:"confirm"`
}

type payResponse struct {
	Invoice      string   `json:"invoice"`
	Address      string   `json:"address"`
	Asset        string   `json:"asset"`
	Amount       string   `json:"amount"`
	TxID         string   `json:"txid"`
	Blocks       []string `json:"blocks"`
	ConflictTxID string   `json:"conflict_txid,omitempty"`
	Height       int64    `json:"height"`
	Status       string   `json:"status"`
	Flags        string   `json:"flags"`
	Paid         string   `json:"amount_paid"`
	Due          string   `json:"amount_due"`
	Warnings     []string `json:"warnings,omitempty"`
}

func (c *control) pay(ctx context.Context, body []byte) (any, error) {
	var req payRequest
	if err := strictjson.Decode(body, &req); err != nil {
		return nil, err
	}
	if req.Confirm < 0 || req.Confirm > maxDevBlocks {
		return nil, controlError{fmt.Sprintf("--confirm must be between 0 and %d", maxDevBlocks)}
	}
	inv, err := c.a.svc.GetInvoice(ctx, nil, req.Invoice)
	if err != nil {
		return nil, err
	}
	if inv.Network == cryptopay.NetworkEVMDev && c.evm != nil {
		return c.payEVM(ctx, inv, req)
	}
	if inv.Network != cryptopay.NetworkBitcoinRegtest {
		return nil, controlError{fmt.Sprintf("invoice %s is on %s; the sandbox pays only %s and %s", inv.ID, inv.Network, cryptopay.NetworkBitcoinRegtest, cryptopay.NetworkEVMDev)}
	}
	sats, err := payAmount(inv, req.Amount)
	if err != nil {
		return nil, err
	}
	var warnings []string
	if !inv.Open(c.a.svc.Now()) {
		warnings = append(warnings, fmt.Sprintf("invoice %s is %s and no longer watched: the gateway will not see this payment", inv.ID, inv.Status))
	}
	observe := func(ctx context.Context, txid string, confs int) error {
		if err := c.waitPayment(ctx, inv.ID, txid, func(p cryptopay.Payment) bool { return p.Confirmations >= int64(confs) }); err != nil {
			warnings = append(warnings, err.Error())
		}
		return nil
	}
	if len(warnings) > 0 {
		observe = nil
	}
	res, err := c.chain.Pay(ctx, inv.Address, sats, devnet.PayOptions{RBF: req.RBF, Confirm: req.Confirm, DoubleSpend: req.DoubleSpend, Observed: observe})
	if err != nil {
		return nil, err
	}
	if req.DoubleSpend && len(warnings) == 0 {
		if err := c.waitPayment(ctx, inv.ID, res.TxID, func(p cryptopay.Payment) bool { return p.Status == cryptopay.PaymentDoubleSpent }); err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	after, err := c.a.svc.GetInvoice(ctx, nil, inv.ID)
	if err != nil {
		return nil, err
	}
	return payResponse{
		Invoice: inv.ID, Address: inv.Address, Asset: "BTC", Amount: cryptopay.FormatAmount(big.NewInt(sats), 8),
		TxID: res.TxID, Blocks: res.Blocks, ConflictTxID: res.ConflictTxID, Height: res.Height,
		Status: string(after.Status), Flags: after.Flags.String(),
		Paid: cryptopay.FormatAmount(after.AmountPaid, 8), Due: cryptopay.FormatAmount(after.AmountDue(), 8),
		Warnings: warnings,
	}, nil
}

// payEVM pays an invoice on the EVM dev chain from its dev wallet: a plain
// ether transfer, or the token's transfer, as a customer's wallet sends.
// There is no mempool to watch and nothing to replace or double spend.
func (c *control) payEVM(ctx context.Context, inv *cryptopay.Invoice, req payRequest) (any, error) {
	if req.RBF || req.DoubleSpend {
		return nil, controlError{"--rbf and --double-spend are Bitcoin's; an EVM dev payment is a plain transfer"}
	}
	cur, ok := cryptopay.LookupCurrency(inv.Asset)
	if !ok {
		return nil, fmt.Errorf("invoice %s: unknown asset %s", inv.ID, inv.Asset)
	}
	units, err := payUnits(inv, req.Amount, cur)
	if err != nil {
		return nil, err
	}
	var warnings []string
	if !inv.Open(c.a.svc.Now()) {
		warnings = append(warnings, fmt.Sprintf("invoice %s is %s and no longer watched: the gateway will not see this payment", inv.ID, inv.Status))
	}
	observe := func(ctx context.Context, tx string, confs int) error {
		if err := c.waitPayment(ctx, inv.ID, tx, func(p cryptopay.Payment) bool { return p.Confirmations >= int64(confs) }); err != nil {
			warnings = append(warnings, err.Error())
		}
		return nil
	}
	if len(warnings) > 0 {
		observe = nil
	}
	res, err := c.evm.Pay(ctx, inv.Address, inv.Asset, units, req.Confirm, observe)
	if err != nil {
		return nil, err
	}
	after, err := c.a.svc.GetInvoice(ctx, nil, inv.ID)
	if err != nil {
		return nil, err
	}
	return payResponse{
		Invoice: inv.ID, Address: inv.Address, Asset: inv.Asset, Amount: cryptopay.FormatAmount(units, cur.Decimals),
		TxID: res.TxHash, Blocks: res.Blocks, Height: res.Height,
		Status: string(after.Status), Flags: after.Flags.String(),
		Paid: cryptopay.FormatAmount(after.AmountPaid, cur.Decimals), Due: cryptopay.FormatAmount(after.AmountDue(), cur.Decimals),
		Warnings: warnings,
	}, nil
}

// payUnits is the amount to send in the asset's base units: the given
// decimal, or what the invoice still has due.
func payUnits(inv *cryptopay.Invoice, amount string, cur cryptopay.Currency) (*big.Int, error) {
	if amount == "" {
		due := inv.AmountDue()
		if due.Sign() == 0 {
			return nil, controlError{fmt.Sprintf("invoice %s has nothing left to pay (paid %s %s); pass --amount to pay more",
				inv.ID, cryptopay.FormatAmount(inv.AmountPaid, cur.Decimals), cur.Code)}
		}
		return due, nil
	}
	v, err := cryptopay.ParseAmount("amount", amount, cur.Decimals)
	if err != nil {
		return nil, err
	}
	if v.Sign() <= 0 {
		return nil, controlError{fmt.Sprintf("--amount must be a positive %s amount", cur.Code)}
	}
	return v, nil
}

// payAmount is the amount to send in satoshi: the given BTC decimal, or
// what the invoice still has due.
func payAmount(inv *cryptopay.Invoice, amount string) (int64, error) {
	if amount == "" {
		due := inv.AmountDue()
		if due.Sign() == 0 {
			return 0, controlError{fmt.Sprintf("invoice %s has nothing left to pay (paid %s BTC); pass --amount to pay more",
				inv.ID, cryptopay.FormatAmount(inv.AmountPaid, 8))}
		}
		return due.Int64(), nil
	}
	v, err := cryptopay.ParseAmount("amount", amount, 8)
	if err != nil {
		return 0, err
	}
	if v.Sign() <= 0 || !v.IsInt64() {
		return 0, controlError{"--amount must be a positive BTC amount such as 0.0015"}
	}
	return v.Int64(), nil
}

// waitPayment polls the database until the invoice's payment txid
// satisfies ok, so the next step happens only after the gateway has seen
// this one (and the checkout page and webhooks have shown it). It returns
// a description if that takes longer than observeTimeout.
func (c *control) waitPayment(ctx context.Context, invoiceID, txid string, ok func(cryptopay.Payment) bool) error {
	ctx, cancel := context.WithTimeout(ctx, observeTimeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		inv, err := c.a.db.GetInvoice(ctx, invoiceID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
			return err
		}
		if err == nil {
			for _, p := range inv.Payments {
				if strings.EqualFold(p.TxID, txid) && ok(p) { // EVM hashes: hex in either case
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway had not recorded the expected state of %s after %s; continued anyway", txid, observeTimeout)
		case <-t.C:
		}
	}
}

type blocksRequest struct {
	N   int  `json:"n"`
	EVM bool `json:"evm,omitempty"` // mine on the EVM dev chain
}

type blocksResponse struct {
	Orphaned []string `json:"orphaned,omitempty"`
	Mined    []string `json:"mined"`
	Height   int64    `json:"height"`
	Warning  string   `json:"warning,omitempty"`
}

func (c *control) mine(ctx context.Context, body []byte) (any, error) {
	var req blocksRequest
	if err := strictjson.Decode(body, &req); err != nil {
		return nil, err
	}
	if req.N < 1 || req.N > maxDevBlocks {
		return nil, controlError{fmt.Sprintf("want a number of blocks from 1 to %d", maxDevBlocks)}
	}
	miner := blockMiner(c.chain)
	if req.EVM {
		if c.evm == nil {
			return nil, controlError{"this sandbox has no EVM dev chain"}
		}
		miner = c.evm
	}
	hashes, err := miner.Mine(ctx, req.N)
	if err != nil {
		return nil, err
	}
	h, err := miner.Height(ctx)
	return blocksResponse{Mined: hashes, Height: h}, err
}

// blockMiner is what `dev mine` needs of a chain: both sandbox chains
// have it.
type blockMiner interface {
	Mine(ctx context.Context, count int) ([]string, error)
	Height(ctx context.Context) (int64, error)
}

func (c *control) reorg(ctx context.Context, body []byte) (any, error) {
	var req blocksRequest
	if err := strictjson.Decode(body, &req); err != nil {
		return nil, err
	}
	if req.EVM {
		return nil, controlError{"dev reorg works on the Bitcoin chain only"}
	}
	if req.N < 1 || req.N > maxDevBlocks {
		return nil, controlError{fmt.Sprintf("want a depth from 1 to %d", maxDevBlocks)}
	}
	res, err := c.chain.Reorg(ctx, req.N)
	if err != nil {
		return nil, err
	}
	out := blocksResponse{Orphaned: res.Orphaned, Mined: res.Mined, Height: res.Height}
	if limit := c.a.cfg.Bitcoin.SafetyLimit; req.N >= limit {
		out.Warning = fmt.Sprintf("depth %d reaches CRYPTOPAY_BITCOIN_REORG_LIMIT (%d): the watcher stops crediting and raises an alert", req.N, limit)
	}
	return out, nil
}

// controlAlive reports whether the sandbox of st answers.
func controlAlive(ctx context.Context, st *devnet.State) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return callControl(ctx, st, http.MethodGet, "/status", nil, nil) == nil
}

// callControl sends one request to a running sandbox.
func callControl(ctx context.Context, st *devnet.State, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, st.Control+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+st.ControlToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}} // loopback only
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("the sandbox (pid %d) is not answering: %w; if it was killed, start it again with `cryptopay dev`", st.PID, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("the sandbox answered %s", resp.Status)
		}
		return errors.New(e.Error)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// sandbox finds the running sandbox for a dev subcommand.
func sandbox(env Env) (*devnet.State, error) {
	dir := devDir(env)
	st, err := devnet.ReadState(dir)
	if errors.Is(err, devnet.ErrNotRunning) {
		return nil, fmt.Errorf("no sandbox is running in %s: start one with `cryptopay dev` (and use the same CRYPTOPAY_DATA_DIR here)", dir)
	}
	return st, err
}

// splitArgs separates positional arguments from flags so both orders
// work: `dev pay inv_… --confirm 3` and `dev pay --confirm 3 inv_…`.
func splitArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseQuiet(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func devPay(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "dev pay")
	amount := fs.String("amount", "", "how much of the invoice's asset to send, e.g. 0.0015 (BTC) or 10.00 (USDC) (default: what the invoice still has due)")
	rbf := fs.Bool("rbf", false, "signal BIP125 replaceability (Bitcoin)")
	double := fs.Bool("double-spend", false, "then mine a conflicting transaction on a competing branch that wins (Bitcoin)")
	confirm := fs.Int("confirm", 0, "blocks to mine after paying")
	pos, err := splitArgs(fs, args)
	if err != nil {
		return parseErr(err)
	}
	if len(pos) != 1 {
		return usageError{"want one invoice id: cryptopay dev pay <invoice_id> [--amount AMOUNT] [--rbf] [--double-spend] [--confirm N]"}
	}
	st, err := sandbox(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	var res payResponse
	req := payRequest{Invoice: pos[0], Amount: *amount, RBF: *rbf, DoubleSpend: *double, Confirm: *confirm}
	if err := callControl(ctx, st, http.MethodPost, "/pay", req, &res); err != nil {
		return err
	}
	w := env.Stdout
	asset := cmp.Or(res.Asset, "BTC")
	fmt.Fprintf(w, "paid %s %s to %s (invoice %s)\ntxid %s\n", res.Amount, asset, res.Address, res.Invoice, res.TxID)
	if len(res.Blocks) > 0 {
		fmt.Fprintf(w, "mined %d block(s)\n", len(res.Blocks))
	}
	if res.ConflictTxID != "" {
		fmt.Fprintf(w, "double spent by %s, mined on a longer competing branch the node adopted\n", res.ConflictTxID)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	flags := ""
	if res.Flags != "" {
		flags = " [" + res.Flags + "]"
	}
	fmt.Fprintf(w, "chain height %d; invoice %s is %s%s, paid %s %s, due %s %s\n", res.Height, res.Invoice, res.Status, flags, res.Paid, asset, res.Due, asset)
	return nil
}

func devMine(ctx context.Context, env Env, args []string) error {
	return devBlocks(ctx, env, "mine", args)
}

func devReorg(ctx context.Context, env Env, args []string) error {
	return devBlocks(ctx, env, "reorg", args)
}

func devBlocks(ctx context.Context, env Env, op string, args []string) error {
	fs := flags(env, "dev "+op)
	evm := new(bool)
	if op == "mine" {
		evm = fs.Bool("evm", false, "mine on the EVM dev chain instead of Bitcoin regtest")
	}
	pos, err := splitArgs(fs, args)
	if err != nil {
		return parseErr(err)
	}
	n := 0
	if len(pos) == 1 {
		n, err = strconv.Atoi(pos[0])
	}
	if len(pos) != 1 || err != nil || n < 1 || n > maxDevBlocks {
		return usageError{fmt.Sprintf("want a whole number from 1 to %d: cryptopay dev %s N", maxDevBlocks, op)}
	}
	st, err := sandbox(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	var res blocksResponse
	if err := callControl(ctx, st, http.MethodPost, "/"+op, blocksRequest{N: n, EVM: *evm}, &res); err != nil {
		return err
	}
	if op == "reorg" {
		fmt.Fprintf(env.Stdout, "replaced %d block(s) with %d new ones; chain height %d\n", len(res.Orphaned), len(res.Mined), res.Height)
	} else {
		fmt.Fprintf(env.Stdout, "mined %d block(s); chain height %d\n", len(res.Mined), res.Height)
	}
	if res.Warning != "" {
		fmt.Fprintf(env.Stdout, "warning: %s\n", res.Warning)
	}
	return nil
}

func parseErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}
