package cli

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/client"
)

// `cryptopay trigger TYPE` makes the sandbox produce a real event of that
// type, so a shop can exercise each webhook handler on demand: it creates
// an invoice through the public API and drives it with the sandbox's real
// chain (pay from the dev wallet, mine, double-spend, reorganise) through
// the control endpoint `dev pay|mine|reorg` use. Nothing is simulated: the
// event is the one the gateway writes when the chain really does that.

const (
	triggerAmount = "0.0015" // BTC; under 100 USD at the sandbox's rates: 3 confirmations
	triggerWait   = 30 * time.Second
)

// trigger is one event type the sandbox can be driven to, and how.
type trigger struct {
	event string
	how   string
	run   func(ctx context.Context, tr *triggerRun) (*client.Invoice, error)
}

var triggers = []trigger{
	{"invoice.created", "create an invoice", func(ctx context.Context, tr *triggerRun) (*client.Invoice, error) {
		return tr.create(ctx, 0)
	}},
	{"invoice.payment_detected", "pay it in full, unconfirmed", payThen("", 0, false)},
	{"invoice.processing", "pay it in full, unconfirmed", payThen("", 0, false)},
	{"invoice.confirmations_changed", "pay it in full, mine 1 block", payThen("", 1, false)},
	{"invoice.settled", "pay it in full, mine its required confirmations", payThen("", -1, false)},
	{"invoice.paid_partial", "pay half of it, unconfirmed", payThen("half", 0, false)},
	{"invoice.paid_over", "pay twice what is due, unconfirmed", payThen("double", 0, false)},
	{"payment.double_spent", "pay it, then mine a conflicting transaction on a longer branch", payThen("", 0, true)},
	{"invoice.expired", "create an invoice that expires in a minute, wait for it", func(ctx context.Context, tr *triggerRun) (*client.Invoice, error) {
		return tr.expired(ctx)
	}},
	{"invoice.paid_late", "let an invoice expire, then pay it", func(ctx context.Context, tr *triggerRun) (*client.Invoice, error) {
		inv, err := tr.expired(ctx)
		if err != nil {
			return nil, err
		}
		return tr.pay(ctx, inv, payRequest{Invoice: inv.ID, Amount: inv.CryptoAmount})
	}},
	{"invoice.invalid", "create an invoice, mark it invalid by hand (data.marked is true)", func(ctx context.Context, tr *triggerRun) (*client.Invoice, error) {
		inv, err := tr.create(ctx, 0)
		if err != nil {
			return nil, err
		}
		inv, err = tr.t.api.MarkInvalid(ctx, inv.ID, "cryptopay trigger")
		if err != nil {
			return nil, apiErr("mark the invoice invalid", err)
		}
		fmt.Fprintf(tr.out, "marked invoice %s invalid by hand\n", inv.ID)
		return inv, nil
	}},
}

func triggerNames() string {
	names := make([]string, len(triggers))
	for i, t := range triggers {
		names[i] = t.event
	}
	return strings.Join(names, ", ")
}

type triggerRun struct {
	t   *apiTarget
	out interface{ Write([]byte) (int, error) }
}

func runTrigger(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "trigger")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: cryptopay trigger EVENT_TYPE\n\nDrives a new sandbox invoice with the sandbox's real chain until the gateway emits EVENT_TYPE.\nEvent types:\n")
		for _, t := range triggers {
			fmt.Fprintf(fs.Output(), "  %-30s %s\n", t.event, t.how)
		}
	}
	pos, err := splitArgs(fs, args)
	if err != nil {
		return parseErr(err)
	}
	if len(pos) != 1 {
		return usageError{"want one event type: cryptopay trigger invoice.settled (or: " + triggerNames() + ")"}
	}
	var tg *trigger
	for i := range triggers {
		if triggers[i].event == pos[0] {
			tg = &triggers[i]
		}
	}
	if tg == nil {
		return usageError{fmt.Sprintf("cannot trigger %q: the sandbox can produce %s", pos[0], triggerNames())}
	}
	t, err := openTarget(ctx, env, "", "trigger", []string{string(cryptopay.ScopeInvoicesRead), string(cryptopay.ScopeInvoicesWrite), string(cryptopay.ScopeEventsRead)}, true)
	if err != nil {
		return err
	}
	defer t.close(ctx)
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	tr := &triggerRun{t: t, out: env.Stdout}
	inv, err := tg.run(ctx, tr)
	if err != nil {
		return err
	}
	ev, err := tr.waitEvent(ctx, inv.ID, tg.event)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "triggered %s: event %s on invoice %s\n", tg.event, ev.ID, inv.ID)
	return nil
}

// create makes a sandbox invoice of triggerAmount BTC; expiresIn 0 takes
// the store's default lifetime.
func (tr *triggerRun) create(ctx context.Context, expiresIn time.Duration) (*client.Invoice, error) {
	order := "trigger-" + randomToken()[:12]
	inv, err := tr.t.api.CreateInvoice(ctx, client.InvoiceParams{OrderID: order, Amount: triggerAmount, Currency: "BTC", ExpiresIn: expiresIn},
		client.WithIdempotencyKey(order))
	if err != nil {
		return nil, apiErr("create the invoice", err)
	}
	fmt.Fprintf(tr.out, "created invoice %s (order %s, %s BTC to %s)\n", inv.ID, inv.OrderID, inv.CryptoAmount, inv.Address)
	return inv, nil
}

// payThen is a trigger that creates an invoice and pays it from the dev
// wallet: amount "" (what is due), "half" or "double"; confirm blocks
// mined after (-1: the invoice's required confirmations); double spends it
// on a longer branch with doubleSpend.
func payThen(amount string, confirm int, doubleSpend bool) func(context.Context, *triggerRun) (*client.Invoice, error) {
	return func(ctx context.Context, tr *triggerRun) (*client.Invoice, error) {
		inv, err := tr.create(ctx, 0)
		if err != nil {
			return nil, err
		}
		req := payRequest{Invoice: inv.ID, Confirm: confirm, DoubleSpend: doubleSpend}
		if confirm < 0 {
			req.Confirm = inv.RequiredConfirmations
		}
		if amount != "" {
			due, ok := new(big.Int).SetString(inv.CryptoAmountBaseUnits, 10)
			if !ok {
				return nil, fmt.Errorf("invoice %s: crypto_amount_base_units %q is not an integer", inv.ID, inv.CryptoAmountBaseUnits)
			}
			if amount == "half" {
				due.Quo(due, big.NewInt(2))
			} else {
				due.Mul(due, big.NewInt(2))
			}
			req.Amount = cryptopay.FormatAmount(due, 8)
		}
		return tr.pay(ctx, inv, req)
	}
}

func (tr *triggerRun) pay(ctx context.Context, inv *client.Invoice, req payRequest) (*client.Invoice, error) {
	var res payResponse
	if err := callControl(ctx, tr.t.sandbox, http.MethodPost, "/pay", req, &res); err != nil {
		return nil, err
	}
	fmt.Fprintf(tr.out, "paid %s BTC (txid %s), mined %d block(s)", res.Amount, res.TxID, len(res.Blocks))
	if res.ConflictTxID != "" {
		fmt.Fprintf(tr.out, "; double spent by %s on a longer branch", res.ConflictTxID)
	}
	fmt.Fprintf(tr.out, "; invoice %s is %s\n", inv.ID, res.Status)
	for _, w := range res.Warnings {
		fmt.Fprintf(tr.out, "warning: %s\n", w)
	}
	return inv, nil
}

// expired creates an invoice with the shortest lifetime and waits until
// the gateway has expired it (it does so once it has seen the chain past
// that time).
func (tr *triggerRun) expired(ctx context.Context) (*client.Invoice, error) {
	inv, err := tr.create(ctx, cryptopay.MinInvoiceExpiry)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(tr.out, "waiting for it to expire at %s (a minute: the shortest invoice lifetime)...\n", inv.ExpiresAt.Local().Format("15:04:05"))
	deadline := inv.ExpiresAt.Add(triggerWait)
	for {
		got, err := tr.t.api.GetInvoice(ctx, inv.ID)
		if err != nil {
			return nil, apiErr("read the invoice", err)
		}
		if got.Status == string(cryptopay.StatusExpired) {
			return got, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("invoice %s is still %s %s after it was due to expire", inv.ID, got.Status, triggerWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitEvent waits until the gateway has written an event of type typ
// about the invoice, the proof the trigger worked.
func (tr *triggerRun) waitEvent(ctx context.Context, invoiceID, typ string) (*client.Event, error) {
	deadline := time.Now().Add(triggerWait)
	for {
		l, err := tr.t.api.ListEvents(ctx, client.ListEventsParams{Invoice: invoiceID, Type: typ, Limit: 1})
		if err != nil {
			return nil, apiErr("list the invoice's events", err)
		}
		if len(l.Data) > 0 {
			return &l.Data[0], nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the gateway wrote no " + typ + " event for invoice " + invoiceID + " within " + triggerWait.String())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
