package cli

import (
	"context"
	"errors"
	"time"

	"github.com/cryptopay/cryptopay"

	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/doctor"
	"github.com/cryptopay/cryptopay/internal/httpapi"
)

// errDoctorFailed makes doctor exit 1 after printing its own report.
var errDoctorFailed = errors.New("at least one check failed")

// doctorNode is doctor's view of the configured Bitcoin node: nil when
// none is configured, else a check of its health (node.go).
func (a *app) doctorNode() doctor.NodeCheck {
	if a.cfg.Bitcoin.RPCURL == "" {
		return nil
	}
	return func(ctx context.Context) (cryptopay.Network, error) {
		client, network, err := a.newBitcoinClient(nil)
		if err != nil {
			return cryptopay.Network(a.cfg.Bitcoin.Network), err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		processed := int64(-1)
		if cs, err := a.db.GetChainState(ctx, network); err == nil {
			processed = cs.Height
		}
		return network, checkNode(ctx, client, network == cryptopay.NetworkBitcoin, processed).Err
	}
}

// runDoctor runs the pre-production checklist and exits non-zero when any
// item fails.
func runDoctor(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "doctor")
	if err := parse(fs, args); err != nil {
		return err
	}
	layered, err := config.Layered(env.Getenv)
	if err != nil {
		return err
	}
	return withApp(ctx, env, false, func(a *app) error {
		api := httpapi.New(httpapi.Config{Service: a.svc, Logger: a.log, TrustedProxies: a.cfg.TrustedProxies})
		rs := doctor.Run(ctx, &doctor.Input{Config: a.cfg, Env: layered, Getenv: env.Getenv, DB: a.db, Handler: api.Handler(),
			Rates: a.currentRates, Node: a.doctorNode(), EVM: a.checkEVMNodes, EVMSweep: a.checkEVMSweeps})
		doctor.Write(env.Stdout, rs)
		if doctor.Failed(rs) {
			return errDoctorFailed
		}
		return nil
	})
}
