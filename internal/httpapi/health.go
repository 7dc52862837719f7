package httpapi

import (
	"context"
	"embed"
	"errors"
	"net/http"
	"time"

	"github.com/cryptopay/cryptopay"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// healthz answers while the process is up; it touches nothing.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// NotReady is a readiness failure as /readyz shows it: Public says what
// failed in a caller's terms ("bitcoin watcher not ready"); Err, whose text
// may name internal hosts and ports, goes only to the log.
type NotReady struct {
	Public string
	Err    error
}

func (e *NotReady) Error() string { return e.Public + ": " + e.Err.Error() }
func (e *NotReady) Unwrap() error { return e.Err }

// readyz answers 200 only when the database is reachable with a current
// schema and every extra condition (chain watchers) holds. The reasons for
// not being ready are named in fixed words (the errors themselves, with
// addresses of the database and nodes, are logged), since they help an
// operator and reveal nothing a client could use.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok"}
	ready := true
	// A database that answers a ping and then drops the schema query
	// (restarting, failing over) is unreachable too, not "not current";
	// the cause goes to the log, not to the caller.
	if err := s.svc.DB().Ping(ctx); err != nil {
		checks["database"], ready = "unreachable", false
		s.log.WarnContext(ctx, "readiness: database unreachable", "err", err)
	} else if err := s.svc.DB().CheckSchema(ctx); errors.Is(err, storage.ErrSchemaOutdated) || errors.Is(err, storage.ErrSchemaTooNew) {
		checks["database"], ready = "schema not current", false
	} else if err != nil {
		checks["database"], ready = "unreachable", false
		s.log.WarnContext(ctx, "readiness: database unreachable", "err", err)
	}
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			checks["chain"], ready = "not ready", false
			if nr, ok := errors.AsType[*NotReady](err); ok {
				checks["chain"] = nr.Public
			}
			s.log.WarnContext(ctx, "readyz: chain not ready", "err", err)
		} else {
			checks["chain"] = "ok"
		}
	}
	if s.rates != nil {
		checks["rates"] = rateHealth(s.rates.Status())
	}
	status, word := http.StatusOK, "ready"
	if !ready {
		status, word = http.StatusServiceUnavailable, "not_ready"
	}
	writeJSON(w, status, map[string]any{"status": word, "checks": checks})
	return nil
}

//go:embed openapi.json
var openAPIFS embed.FS

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	b, err := openAPIFS.ReadFile("openapi.json")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
	return nil
}

// notFound answers paths no route matches, and methods a route does not
// serve with 405 and an Allow header.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		return cryptopay.Errorf(cryptopay.CodeMethodNotAllowed, "%s is not allowed on %s.", r.Method, r.URL.Path)
	}
	return cryptopay.Errorf(cryptopay.CodeNotFound, "No route for %s %s.", r.Method, r.URL.Path)
}
