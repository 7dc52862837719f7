package cli

import (
	"context"
	"errors"

	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/doctor"
	"github.com/cryptopay/cryptopay/internal/httpapi"
)

// errDoctorFailed makes doctor exit 1 after printing its own report.
var errDoctorFailed = errors.New("at least one check failed")

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
		rs := doctor.Run(ctx, &doctor.Input{Config: a.cfg, Env: layered, Getenv: env.Getenv, DB: a.db, Handler: api.Handler(), EVM: a.checkEVMNode})
		doctor.Write(env.Stdout, rs)
		if doctor.Failed(rs) {
			return errDoctorFailed
		}
		return nil
	})
}
