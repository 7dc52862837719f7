package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// MountPprof adds Go's profiling endpoints under /debug/pprof/ to mux. It
// is for an admin listener only (CRYPTOPAY_PPROF_LISTEN, or a metrics
// listener that serves operators): never the public API's mux. The
// handlers are registered explicitly, not through net/http/pprof's
// init-time registration on http.DefaultServeMux, which the gateway never
// serves.
func MountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// startPprof serves the profiling endpoints on addr until ctx ends; the
// returned function waits for the listener to close. An empty addr (the
// default) serves nothing.
func startPprof(ctx context.Context, addr string) (wait func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	MountPprof(mux)
	// No write timeout: a CPU profile or trace streams for its ?seconds=.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // ErrServerClosed at ctx's end; profiling is best effort
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return func() { <-done }, nil
}
