package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/cryptopay/cryptopay"
)

// maxHeaders bounds the header fields of a request; no client of this API
// needs more than a handful.
const maxHeaders = 64

// MaxHeaderBytes bounds the request line and header fields, answered with
// a JSON 431 like every other refusal. The server's own limit
// (http.Server.MaxHeaderBytes) must be larger, ServerMaxHeaderBytes: what
// it refuses is answered by net/http in plain text, without the JSON body
// or the security headers, so it is kept for requests far past any client.
const (
	MaxHeaderBytes       = 32 << 10
	ServerMaxHeaderBytes = 2 * MaxHeaderBytes
)

// edge is what the server believes about the client side of a request.
type edge struct {
	ip    netip.Addr
	https bool
}

// withProxy resolves the client address and scheme. X-Forwarded-For and
// X-Forwarded-Proto are honoured only when the peer is a trusted proxy;
// from anyone else they are deleted, so no later code can be fooled by
// them.
func (s *Server) withProxy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Refused before the client is resolved, but with the security
		// headers and the JSON error body of every other answer.
		if n := headerCount(r.Header); n > maxHeaders {
			securityHeaders(s.handle(func(w http.ResponseWriter, r *http.Request) error {
				return cryptopay.Errorf(cryptopay.CodeInvalid, "The request has %d header fields; at most %d are accepted.", n, maxHeaders)
			})).ServeHTTP(w, r)
			return
		}
		if n := headerBytes(r); n > MaxHeaderBytes {
			securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusRequestHeaderFieldsTooLarge, errorBody{Error: errorDetail{
					Type: typeOf(cryptopay.CodeTooLarge), Code: string(cryptopay.CodeTooLarge), RequestID: requestID(r.Context()),
					Message: fmt.Sprintf("The request line and header fields take %d bytes; at most %d are accepted.", n, MaxHeaderBytes)}})
			})).ServeHTTP(w, r)
			return
		}
		peer := peerIP(r)
		e := edge{ip: peer, https: r.TLS != nil}
		if s.trusted(peer) {
			e.ip = s.forwardedFor(r.Header.Values("X-Forwarded-For"), peer)
			if r.TLS == nil {
				e.https = lastToken(r.Header.Values("X-Forwarded-Proto")) == "https"
			}
		} else {
			delete(r.Header, "X-Forwarded-For") // Header.Del, without canonicalising a canonical name
			delete(r.Header, "X-Forwarded-Proto")
		}
		// withRequestID made the request's facts; a chain without it (a
		// test of this middleware alone) gets its own.
		f := factsOf(r.Context())
		if f == nil {
			f = &reqFacts{}
			r = r.WithContext(context.WithValue(r.Context(), reqKey{}, f))
		}
		f.edge, f.resolved = e, true
		if e.ip.IsValid() {
			f.ipText = e.ip.String()
		}
		next.ServeHTTP(w, r)
	})
}

// trusted reports whether a is one of the configured proxies.
func (s *Server) trusted(a netip.Addr) bool {
	return a.IsValid() && slices.ContainsFunc(s.proxies, func(p netip.Prefix) bool { return p.Contains(a) })
}

// forwardedFor walks X-Forwarded-For from the right, past every trusted
// proxy, and returns the first address no trusted proxy vouches for. The
// entries left of it were written by the client and are ignored: anyone
// can prepend anything. An unparsable entry stops the walk at the last
// trusted hop.
func (s *Server) forwardedFor(values []string, peer netip.Addr) netip.Addr {
	hops := strings.Split(strings.Join(values, ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := parseHop(h)
		if err != nil {
			return client
		}
		client = a
		if !s.trusted(a) {
			return a
		}
	}
	return client
}

// parseHop accepts "addr", "addr:port" and "[v6]:port".
func parseHop(h string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return a.Unmap(), err
}

// lastToken returns the right-most comma-separated value, lower-cased: the
// one the nearest (trusted) proxy set.
func lastToken(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// isHTTPS reports whether the client reached the gateway over TLS: its
// own, or a trusted proxy's.
func isHTTPS(r *http.Request) bool {
	if f := factsOf(r.Context()); f != nil && f.resolved {
		return f.edge.https
	}
	return r.TLS != nil
}

// peerIP returns the address of the TCP peer.
func peerIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// headerBytes is the size of the request line and header fields as sent,
// counted as net/http counts them for MaxHeaderBytes.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	if r.Host != "" && r.Header.Get("Host") == "" {
		n += len("Host") + len(r.Host) + 4
	}
	return n
}

func headerCount(h http.Header) int {
	n := 0
	for _, v := range h {
		n += len(v)
	}
	return n
}
