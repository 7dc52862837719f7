package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in CRYPTOPAY_TLS_CERT_FILE and
// _KEY_FILE and picks up a renewed pair without a restart: on a handshake
// at most once per interval it compares both files' modification times
// and sizes with those of the pair it loaded, and loads them again if
// either changed. A pair that fails to load (a renewal caught half
// written, a key that does not match) is logged and the previous
// certificate kept; the next check tries again.
type certReloader struct {
	certFile, keyFile string
	every             time.Duration
	now               func() time.Time
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of the pair cert was loaded from
	checked time.Time
}

// fileStamp is what tells a file was replaced: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

// certCheckEvery bounds how often a handshake looks at the files.
const certCheckEvery = time.Minute

// newCertReloader loads the pair once and returns an error naming the
// variables if it cannot: serve must not start without a certificate.
func newCertReloader(certFile, keyFile string, log *slog.Logger, now func() time.Time) (*certReloader, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &certReloader{certFile: certFile, keyFile: keyFile, every: certCheckEvery, now: now, log: log}
	stamp, err := r.stamps()
	if err == nil {
		err = r.load(stamp)
	}
	if err != nil {
		return nil, fmt.Errorf("CRYPTOPAY_TLS_CERT_FILE/KEY_FILE: %w", err)
	}
	r.checked = now()
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

func (r *certReloader) load(stamp [2]fileStamp) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// GetCertificate is the tls.Config hook: the current certificate, after
// reloading it if the files changed and a check is due.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < r.every {
		return r.cert, nil
	}
	r.checked = now
	stamp, err := r.stamps()
	if err == nil && stamp == r.stamp {
		return r.cert, nil
	}
	if err == nil {
		err = r.load(stamp)
	}
	if err != nil {
		r.log.Error("TLS certificate reload failed; serving the previous certificate", "cert_file", r.certFile, "err", err)
		return r.cert, nil
	}
	if r.cert.Leaf != nil {
		r.log.Info("TLS certificate reloaded", "cert_file", r.certFile, "not_after", r.cert.Leaf.NotAfter)
	}
	return r.cert, nil
}
