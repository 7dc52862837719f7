package config

import (
	"fmt"
	"net"
	"net/netip"
)

// pprofVars are the variables of on-demand profiling.
var pprofVars = []Var{
	{"CRYPTOPAY_PPROF_LISTEN", "", "Address of an admin listener serving Go's net/http/pprof profiles under /debug/pprof/ (e.g. 127.0.0.1:6060); unset serves none. Never the public API's listener; only a loopback or private address is accepted, as profiles show internals."},
}

// loadPprof reads CRYPTOPAY_PPROF_LISTEN: empty, or a host:port whose host
// is a loopback or private IP address (or localhost). Profiles show
// request paths, timings and memory, so they are never offered on a
// public address.
func loadPprof(env func(string) string) (string, error) {
	addr := env("CRYPTOPAY_PPROF_LISTEN")
	if addr == "" {
		return "", nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("CRYPTOPAY_PPROF_LISTEN: %q is not host:port", addr)
	}
	if host == "localhost" {
		return addr, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !(ip.IsLoopback() || ip.IsPrivate()) {
		return "", fmt.Errorf("CRYPTOPAY_PPROF_LISTEN: %q must be a loopback or private address (profiles are never public)", addr)
	}
	return addr, nil
}
