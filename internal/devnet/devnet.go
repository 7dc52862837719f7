// Package devnet is the chain side of the developer sandbox (`cryptopay
// dev`): two btcd regtest nodes on loopback and a funded dev wallet, with
// the operations a developer uses to drive an invoice through every state
// by hand: pay (optionally replaceable), mine, reorganise, double spend;
// and an in-process EVM dev chain (evm.go) with the forwarder factory and
// test USDC and USDT deployed, which pays ETH and token invoices.
//
// The gateway watches the main node. The second node plays a competing
// miner: it is kept disconnected, synced to the main node just before it
// is used, and builds branches that the main node then adopts because they
// are longer. Building those branches elsewhere (with a different mining
// address) guarantees that the replacement blocks differ from the ones
// they replace, and that the second node's mempool never holds a payment
// it is asked to contradict.
//
// It is not a wallet for real coins and not part of the gateway: it holds
// a private key derived from a seed the caller keeps, and it only ever
// talks to nodes it started on 127.0.0.1. A Net's operations are
// serialised; callers may use one Net from several goroutines.
package devnet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/cryptopay/cryptopay/internal/bitcoin/regtest"
)

// DefaultFundBlocks is how many blocks Start mines to the dev wallet: the
// first 51 coinbases (2,550 BTC) are mature at once, and every block mined
// later matures one more.
const DefaultFundBlocks = 150

// Options configure Start.
type Options struct {
	// Dir holds both nodes' files (Dir/main, Dir/second). Required.
	Dir string
	// BtcdPath is the btcd binary; empty means regtest.BtcdPath.
	BtcdPath string
	// Seed is the dev wallet's seed, 16 to 64 bytes. Required.
	Seed []byte
	// FundBlocks is how many blocks are mined to the wallet at start
	// (0: DefaultFundBlocks). At least 101, so some coins are mature.
	FundBlocks int
}

// Net is a running sandbox chain: the main node the gateway watches, the
// second (competing) node, and the dev wallet.
type Net struct {
	mu     sync.Mutex // serialises operations: each assumes the nodes' topology at rest
	main   *regtest.Node
	second *regtest.Node
	wallet *regtest.Wallet
}

// Start launches the two nodes, mines the funding blocks to the wallet on
// the main node and syncs the second node to it. It returns an error if a
// node cannot start or the chain cannot be built; nothing is left running
// then. The caller must Stop the Net.
func Start(ctx context.Context, opts Options) (*Net, error) {
	if opts.Dir == "" {
		return nil, errors.New("devnet: Options.Dir is required")
	}
	fund := opts.FundBlocks
	if fund == 0 {
		fund = DefaultFundBlocks
	}
	if fund < 101 {
		return nil, fmt.Errorf("devnet: FundBlocks %d: want at least 101 so coins mature", fund)
	}
	w, err := regtest.NewWallet(opts.Seed, regtest.Params)
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	bin := opts.BtcdPath
	if bin == "" {
		if bin, err = regtest.BtcdPath(ctx); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
	}
	// Start both nodes at once: each takes a second or two to open its
	// database, and a developer waits for the slower one only.
	var (
		wg   sync.WaitGroup
		main *regtest.Node
		sec  *regtest.Node
		errs [2]error
	)
	wg.Go(func() {
		main, errs[0] = regtest.Start(ctx, regtest.Options{Dir: filepath.Join(opts.Dir, "main"), BtcdPath: bin, MiningAddress: w.MiningAddress()})
	})
	wg.Go(func() {
		// The default (burn) mining address: blocks mined here never match
		// a block of the main node's, and fund nobody.
		sec, errs[1] = regtest.Start(ctx, regtest.Options{Dir: filepath.Join(opts.Dir, "second"), BtcdPath: bin})
	})
	wg.Wait()
	n := &Net{main: main, second: sec, wallet: w}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, errors.Join(fmt.Errorf("devnet: %w", err), n.Stop())
	}
	if _, err := main.Mine(ctx, fund); err != nil {
		return nil, errors.Join(fmt.Errorf("devnet: fund the wallet: %w", err), n.Stop())
	}
	if err := n.syncSecond(ctx); err != nil {
		return nil, errors.Join(err, n.Stop())
	}
	if err := w.Sync(ctx, main); err != nil {
		return nil, errors.Join(fmt.Errorf("devnet: %w", err), n.Stop())
	}
	return n, nil
}

// Stop stops both nodes and waits until their processes are gone. It is
// safe to call more than once.
func (n *Net) Stop() error {
	var errs []error
	for _, node := range []*regtest.Node{n.main, n.second} {
		if node != nil {
			errs = append(errs, node.Stop())
		}
	}
	return errors.Join(errs...)
}

// Main is the node the gateway watches.
func (n *Net) Main() *regtest.Node { return n.main }

// Second is the competing node (kept disconnected between operations).
func (n *Net) Second() *regtest.Node { return n.second }

// AccountKey is the dev wallet's BIP84 account public key (vpub): a store
// with this key receives its invoices' payments into the dev wallet.
func (n *Net) AccountKey() string { return n.wallet.AccountPub() }

// Balance syncs the wallet with the main node and returns its spendable
// balance in satoshi.
func (n *Net) Balance(ctx context.Context) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.wallet.Sync(ctx, n.main); err != nil {
		return 0, err
	}
	_, spendable := n.wallet.Balance()
	return spendable, nil
}

// Height is the main node's chain height.
func (n *Net) Height(ctx context.Context) (int64, error) { return n.main.BlockCount(ctx) }

// Mine mines count blocks on the main node (coinbases to the dev wallet)
// and returns their hashes, oldest first. It returns an error if count is
// not positive or the node fails.
func (n *Net) Mine(ctx context.Context, count int) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.main.Mine(ctx, count)
}

// ReorgResult describes a reorganisation Reorg caused.
type ReorgResult struct {
	// Orphaned are the main chain's blocks that left it, oldest first.
	Orphaned []string
	// Mined are the blocks that replaced them, oldest first; one more than
	// Orphaned, so the new branch is strictly longer.
	Mined []string
	// Height is the main node's height afterwards.
	Height int64
}

// Reorg replaces the main chain's last depth blocks with depth+1 new
// ones: the block depth deep (the tip is 1 deep) is invalidated on the
// second node, which mines the longer branch and hands it to the main
// node. Transactions of the orphaned blocks return to the main node's
// mempool (a later Mine confirms them again). It returns an error if depth
// is not between 1 and the chain's height, or the main node does not end
// up on the new branch.
func (n *Net) Reorg(ctx context.Context, depth int) (*ReorgResult, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	height, err := n.main.BlockCount(ctx)
	if err != nil {
		return nil, err
	}
	if depth < 1 || int64(depth) > height {
		return nil, fmt.Errorf("devnet: reorg depth %d: want 1 to %d (the chain's height)", depth, height)
	}
	if err := n.syncSecond(ctx); err != nil {
		return nil, err
	}
	res := &ReorgResult{}
	for h := height - int64(depth) + 1; h <= height; h++ {
		hash, err := n.main.BlockHash(ctx, h)
		if err != nil {
			return nil, err
		}
		res.Orphaned = append(res.Orphaned, hash)
	}
	if err := n.second.InvalidateBlock(ctx, res.Orphaned[0]); err != nil {
		return nil, fmt.Errorf("devnet: invalidate block %s on the second node: %w", res.Orphaned[0], err)
	}
	if res.Mined, err = n.second.Mine(ctx, depth+1); err != nil {
		return nil, err
	}
	if err := n.handOver(ctx, res.Mined[len(res.Mined)-1]); err != nil {
		return nil, err
	}
	res.Height = height + 1
	return res, nil
}

// PayOptions shape a payment.
type PayOptions struct {
	// RBF signals BIP125 replaceability on the payment.
	RBF bool
	// Confirm mines this many blocks on the main node after the payment.
	Confirm int
	// DoubleSpend makes the payment lose to a conflicting transaction
	// paying the dev wallet instead: after the payment (and its Confirm
	// blocks) the second node mines the conflict and Confirm more blocks,
	// and the main node reorganises onto that longer branch.
	DoubleSpend bool
	// Observed, if set, is called after the payment is broadcast (confs
	// 0) and after its Confirm blocks are mined (confs = Confirm), before
	// anything further happens: the caller waits there until the gateway
	// has seen that state, so every intermediate state is observable. An
	// error aborts the payment's remaining steps.
	Observed func(ctx context.Context, txid string, confs int) error
}

// PayResult describes what Pay did.
type PayResult struct {
	TxID string
	// Blocks are the blocks mined on the main chain for the payment.
	Blocks []string
	// ConflictTxID and ConflictBlock are set for a double spend: the
	// transaction that won and the block that holds it.
	ConflictTxID  string
	ConflictBlock string
	// Height is the main node's height afterwards.
	Height int64
}

// Pay pays sats to addr from the dev wallet through the main node and
// then does what opts ask. Errors: those of regtest.Wallet.Pay (invalid
// address or amount, regtest.ErrInsufficientFunds, a rejection by the
// node), a failure to mine, or an error from opts.Observed. Confirm must
// not be negative.
func (n *Net) Pay(ctx context.Context, addr string, sats int64, opts PayOptions) (*PayResult, error) {
	if opts.Confirm < 0 {
		return nil, fmt.Errorf("devnet: confirm %d: must not be negative", opts.Confirm)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if opts.DoubleSpend {
		// The second node must have the payment's inputs but never see
		// the payment itself: sync it now, while it is still unsent.
		if err := n.syncSecond(ctx); err != nil {
			return nil, err
		}
	}
	observe := func(txid string, confs int) error {
		if opts.Observed == nil {
			return nil
		}
		return opts.Observed(ctx, txid, confs)
	}
	txid, _, err := n.wallet.Pay(ctx, n.main, addr, sats, regtest.Opts{RBF: opts.RBF})
	if err != nil {
		return nil, err
	}
	res := &PayResult{TxID: txid}
	if err := observe(txid, 0); err != nil {
		return res, err
	}
	if opts.Confirm > 0 {
		if res.Blocks, err = n.main.Mine(ctx, opts.Confirm); err != nil {
			return res, err
		}
		if err := observe(txid, opts.Confirm); err != nil {
			return res, err
		}
	}
	if opts.DoubleSpend {
		res.ConflictTxID, res.ConflictBlock, err = n.wallet.DoubleSpend(ctx, n.second, txid, n.wallet.MiningAddress(), sats, regtest.Opts{})
		if err != nil {
			return res, fmt.Errorf("devnet: double spend on the second node: %w", err)
		}
		tip := res.ConflictBlock
		if opts.Confirm > 0 {
			more, err := n.second.Mine(ctx, opts.Confirm)
			if err != nil {
				return res, err
			}
			tip = more[len(more)-1]
		}
		if err := n.handOver(ctx, tip); err != nil {
			return res, err
		}
	}
	res.Height, err = n.main.BlockCount(ctx)
	return res, err
}

// syncSecond brings the second node onto the main node's chain and
// disconnects it again. The main node's chain is never shorter outside an
// operation, so the second node follows it.
func (n *Net) syncSecond(ctx context.Context) error {
	if err := n.second.Connect(ctx, n.main); err != nil {
		return fmt.Errorf("devnet: connect the second node: %w", err)
	}
	_, err := regtest.WaitSameTip(ctx, n.main, n.second)
	return errors.Join(err, n.disconnect(ctx))
}

// handOver connects the second node, whose branch ending in tip is
// longer, waits until the main node has adopted it, and disconnects.
func (n *Net) handOver(ctx context.Context, tip string) error {
	if err := n.second.Connect(ctx, n.main); err != nil {
		return fmt.Errorf("devnet: connect the second node: %w", err)
	}
	got, err := regtest.WaitSameTip(ctx, n.main, n.second)
	if err == nil && got != tip {
		err = fmt.Errorf("devnet: the nodes agreed on %s, not on the second node's longer branch ending in %s", got, tip)
	}
	return errors.Join(err, n.disconnect(ctx))
}

func (n *Net) disconnect(ctx context.Context) error {
	if err := n.second.Disconnect(ctx, n.main); err != nil {
		return fmt.Errorf("devnet: disconnect the second node: %w", err)
	}
	return nil
}
