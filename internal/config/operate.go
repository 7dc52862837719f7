package config

// Operate configures what an operator watches a running gateway with: the
// admin listener and the metrics token.
type Operate struct {
	// AdminAddr is the address of a separate listener serving /metrics
	// (and nothing the API serves); empty runs none.
	AdminAddr string
	// MetricsToken, when set, also serves /metrics on the API listener to
	// requests bearing it (Authorization: Bearer <token>). A secret.
	MetricsToken string
}

// operateVars are appended to Vars.
var operateVars = []Var{
	{"CRYPTOPAY_ADMIN_ADDR", "", "Address of a separate admin listener serving Prometheus /metrics, e.g. 127.0.0.1:9090; unset runs none. Keep it off the public network."},
	{"CRYPTOPAY_METRICS_TOKEN", "", "Bearer token that also opens /metrics on the API listener (a secret: environment or config file only); unset, /metrics is only on CRYPTOPAY_ADMIN_ADDR."},
}

func init() { Vars = append(Vars, operateVars...) }

func loadOperate(env func(string) string) Operate {
	return Operate{AdminAddr: env("CRYPTOPAY_ADMIN_ADDR"), MetricsToken: env("CRYPTOPAY_METRICS_TOKEN")}
}
