package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/chain"
	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/watcher"
)

// The chain commands move the chain watcher's stored position, for an
// operator after a halt on a reorganisation deeper than
// CRYPTOPAY_BITCOIN_REORG_LIMIT or after replacing the node: both leave a
// stored chain the node no longer has. Each takes the watcher's lease (so
// no gateway watches meanwhile, and a stalled one is fenced off), writes
// the new position and its audit entry in one transaction, and releases
// the lease; the next gateway to lead continues from there.

func runChain(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "chain", verbs: []verb{
		{"status", chainStatus}, {"rescan", chainRescan}, {"reset", chainReset},
	}}.run(ctx, env, args)
}

// chainLeaseTTL bounds how long a crashed chain command keeps gateways
// from watching.
const chainLeaseTTL = time.Minute

func chainStatus(ctx context.Context, env Env, args []string) error {
	if err := parse(flags(env, "chain status"), args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		network := cryptopay.Network(a.cfg.Bitcoin.Network)
		st, err := a.db.GetChainState(ctx, network)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			fmt.Fprintf(env.Stdout, "%s: no chain position stored; the watcher starts at the node's tip\n", network)
		case err != nil:
			return err
		default:
			fmt.Fprintf(env.Stdout, "%s: processed up to height %d (%s), updated %s\n", network, st.Height, st.Hash, st.UpdatedAt.Format(time.RFC3339))
		}
		return nil
	})
}

func chainRescan(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "chain rescan")
	from := fs.Int64("from", -1, "first block height to scan again (required); below the oldest block an unsettled payment is in")
	reason := fs.String("reason", "", "why (required; recorded in the audit log)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from < 1 {
		return usageError{"want: chain rescan --from HEIGHT --reason TEXT (HEIGHT at least 1)"}
	}
	return moveChain(ctx, env, "chain.rescan", *from, *reason)
}

func chainReset(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "chain reset")
	reason := fs.String("reason", "", "why (required; recorded in the audit log)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return moveChain(ctx, env, "chain.reset", -1, *reason)
}

// moveChain stores the watcher's position so that it continues from block
// from (a rescan), or from the node's tip when from is -1 (a reset).
func moveChain(ctx context.Context, env Env, action string, from int64, reason string) error {
	if reason == "" {
		return cryptopay.Invalid("reason", "A reason is required; it is recorded in the audit log.")
	}
	return withApp(ctx, env, true, func(a *app) error {
		client, network, err := a.newBitcoinClient(nil)
		if err != nil {
			return err
		}
		if client == nil {
			return errors.New("no Bitcoin node configured: set CRYPTOPAY_BITCOIN_RPC_URL (the node to scan) and CRYPTOPAY_BITCOIN_NETWORK")
		}
		if err := client.CheckNetwork(ctx); err != nil {
			return fmt.Errorf("bitcoin node at CRYPTOPAY_BITCOIN_RPC_URL: %w", err)
		}
		info, err := client.ChainInfo(ctx)
		if err != nil {
			return err
		}
		start := info.Blocks // reset: continue from the tip
		if from >= 0 {
			if from > info.Blocks {
				return cryptopay.Invalid("from", "Height %d is above the node's tip %d.", from, info.Blocks)
			}
			if info.Pruned && from < info.PruneHeight {
				return cryptopay.Invalid("from", "The node has pruned the blocks below %d; rescan from there or use an unpruned node.", info.PruneHeight)
			}
			start = from - 1
		}
		hash, err := client.BlockHash(ctx, start)
		if err != nil {
			return err
		}
		snap, err := watcher.RestartSnapshot(chain.BlockRef{Height: start, Hash: hash})
		if err != nil {
			return err
		}
		lease := storage.LeaseName(network)
		holder := "cryptopay " + action
		epoch, err := a.db.AcquireLease(ctx, lease, holder, chainLeaseTTL)
		if errors.Is(err, storage.ErrLeaseHeld) {
			held, _ := a.db.GetLease(ctx, lease)
			who := "another instance"
			if held != nil {
				who = held.Holder
			}
			return fmt.Errorf("a gateway is watching %s (%s holds its lease): stop every gateway instance first, then run this again", network, who)
		}
		if err != nil {
			return err
		}
		defer a.db.ReleaseLease(context.WithoutCancel(ctx), lease, holder, epoch)
		var before *storage.ChainState
		err = a.db.InTx(ctx, func(tx storage.Tx) error {
			if err := tx.CheckLease(ctx, lease, epoch); err != nil {
				return err
			}
			if st, err := tx.GetChainState(ctx, network); err == nil {
				before = st
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			details := map[string]any{"network": string(network), "reason": reason, "continue_after_height": start, "continue_after_hash": hash}
			if before != nil {
				details["previous_height"], details["previous_hash"] = before.Height, before.Hash
			}
			if err := a.svc.Audit(ctx, tx, gateway.AuditRecord{Action: action, Target: string(network), Details: details}); err != nil {
				return err
			}
			return tx.PutChainState(ctx, &storage.ChainState{Network: network, Height: start, Hash: hash, Snapshot: snap, UpdatedAt: time.Now().UTC()})
		})
		if err != nil {
			return err
		}
		if from >= 0 {
			fmt.Fprintf(env.Stdout, "%s: the watcher will scan blocks %d to %d again at its next start (payments found again are matched, never credited twice)\n", network, from, info.Blocks)
		} else {
			fmt.Fprintf(env.Stdout, "%s: the watcher will continue from the node's tip, height %d (%s); blocks before it are not scanned\n", network, start, hash)
		}
		return nil
	})
}
