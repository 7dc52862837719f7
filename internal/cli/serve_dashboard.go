package cli

import (
	"context"
	"errors"
	"os"

	"github.com/cryptopay/cryptopay/internal/config"
	"github.com/cryptopay/cryptopay/internal/dashboard"
	"github.com/cryptopay/cryptopay/internal/doctor"
	"github.com/cryptopay/cryptopay/internal/ratelimit"
	"github.com/cryptopay/cryptopay/internal/storage"
	"github.com/cryptopay/cryptopay/internal/webhook"
)

// dashboardConfig wires the merchant dashboard to this process: the same
// services as the API, the edge's rate limiter (shared through Redis when
// configured) for sign-in attempts, and, for operator users, the audit
// log verification and the doctor checklist as the command line runs
// them. Nil when CRYPTOPAY_DASHBOARD is off.
func (a *app) dashboardConfig(wh *webhook.Service, edge *edge) *dashboard.Config {
	if !a.cfg.Dashboard.Enabled {
		return nil
	}
	var lim ratelimit.Limiter
	if edge != nil && edge.limits != nil {
		lim = edge.limits.Limiter
	}
	return &dashboard.Config{
		Service: a.svc, Webhooks: wh, Logger: a.log, Explorer: a.cfg.Dashboard.ExplorerURL, Limiter: lim,
		Doctor: func(ctx context.Context) []dashboard.CheckResult {
			layered, err := config.Layered(a.getenv)
			if err != nil {
				return []dashboard.CheckResult{{Name: "configuration", Status: string(doctor.Fail), Detail: err.Error()}}
			}
			rs := doctor.Run(ctx, &doctor.Input{Config: a.cfg, Env: layered, Getenv: a.getenv, DB: a.db})
			out := make([]dashboard.CheckResult, len(rs))
			for i, r := range rs {
				out[i] = dashboard.CheckResult{Name: r.Name, Status: string(r.Status), Detail: r.Detail, Fix: r.Fix}
			}
			return out
		},
		VerifyAudit: func(ctx context.Context) (int64, error) {
			kr, err := a.cfg.Keyring()
			if err != nil {
				return 0, err
			}
			cps, err := readAuditCheckpoints(a.cfg.AuditCheckpointFile)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, err
			}
			rep, err := storage.VerifyAuditWith(ctx, a.db, kr, cps)
			return rep.Entries, err
		},
	}
}
