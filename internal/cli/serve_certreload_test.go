package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 named cn to
// certFile and keyFile, stamped with mod as their modification time.
func writeSelfSigned(t *testing.T, cn, certFile, keyFile string, mod time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeStamped(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), mod)
	writeStamped(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), mod)
}

func writeStamped(t *testing.T, name string, body []byte, mod time.Time) {
	t.Helper()
	// Written beside and renamed into place, as a certificate renewal does.
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// servedCN makes a real TLS handshake with a server using r and returns
// the common name of the certificate it presented.
func servedCN(t *testing.T, r *certReloader) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", hardenTLS(&tls.Config{GetCertificate: r.GetCertificate}))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.(*tls.Conn).Handshake()
		c.Close()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) // self-signed: only the served name matters
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestCertReload swaps two self-signed certificates on disk under a
// serving reloader and checks the new one is served once a check is due,
// and that a broken pair keeps the previous certificate in service.
func TestCertReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeSelfSigned(t, "first", certFile, keyFile, t0)
	var off atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(off.Load())) }
	r, err := newCertReloader(certFile, keyFile, nil, clock)
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		change  func()
		advance time.Duration
		want    string
	}{
		{"initial certificate", nil, 0, "first"},
		{"renewed on disk, check not yet due", func() { writeSelfSigned(t, "second", certFile, keyFile, t0.Add(time.Minute)) }, 30 * time.Second, "first"},
		{"check due: renewed certificate served", nil, 31 * time.Second, "second"},
		{"broken renewal keeps the previous certificate", func() {
			writeStamped(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"), t0.Add(2*time.Minute))
		}, time.Minute, "second"},
		{"fixed renewal is picked up", func() { writeSelfSigned(t, "third", certFile, keyFile, t0.Add(3*time.Minute)) }, time.Minute, "third"},
		{"same content, same stamp: no reload needed", nil, time.Minute, "third"},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		off.Add(int64(st.advance))
		if got := servedCN(t, r); got != st.want {
			t.Fatalf("%s: served %q, want %q", st.name, got, st.want)
		}
	}

	// A pair that cannot be loaded at start is an error naming the variables.
	os.Remove(keyFile)
	if _, err := newCertReloader(certFile, keyFile, nil, nil); err == nil {
		t.Error("a missing key file was accepted at start")
	}
}
