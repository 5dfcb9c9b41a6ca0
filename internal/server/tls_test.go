package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and returns
// the file paths and a pool that trusts it.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, pool := selfSigned(t, 1)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	return certFile, keyFile, pool
}

// selfSigned makes a self-signed certificate for 127.0.0.1 with the given
// serial number: its PEM, its key's PEM and a pool that trusts it.
func selfSigned(t *testing.T, serial int64) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), pool
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// running is a node served by the real Run loop on a loopback port.
type running struct {
	srv  *server.Server
	cfg  config.Config
	logs *syncBuffer
	stop context.CancelFunc // begins the shutdown
	done chan error         // Run's result
}

// runNode builds a node from cfg (data directory and address filled in)
// and runs it until the test ends; its log goes to logs.
func runNode(t *testing.T, cfg config.Config, opt server.Options) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.LogFormat = ln.Addr().String(), "text"
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &running{cfg: cfg, logs: &syncBuffer{}, done: make(chan error, 1)}
	r.srv, err = server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(r.logs, nil)), opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r.stop = cancel
	go func() { r.done <- r.srv.Run(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
		r.srv.Close()
	})
	return r
}

// TestServeTLS runs the real Run loop with --tls-cert/--tls-key and checks
// that discovery is served over HTTPS with an https issuer, then shuts down.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := writeSelfSigned(t, t.TempDir())
	r := runNode(t, config.Config{Dev: true, TLSCert: certFile, TLSKey: keyFile}, server.Options{})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Get("https://" + r.cfg.Addr + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Issuer string `json:"issuer"`
	}
	err = json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	if err != nil || d.Issuer != "https://"+r.cfg.Addr+"/" {
		t.Fatalf("issuer %q, %v", d.Issuer, err)
	}
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestTLSReload swaps the certificate on disk while the server runs: a pair
// caught half-written (new certificate, old key) is refused and the old
// one stays in use; once the key follows, new connections get the new
// certificate while an open connection keeps working. HTTP/2 is offered
// and https responses carry HSTS.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool1 := writeSelfSigned(t, t.TempDir())
	r := runNode(t, config.Config{Dev: true, TLSCert: certFile, TLSKey: keyFile, HSTSMaxAge: 48 * time.Hour},
		server.Options{CertPoll: 5 * time.Millisecond})
	logs := r.logs
	url := "https://" + r.cfg.Addr + "/.well-known/jwks.json"

	serial := func(c *http.Client) (int64, *http.Response) {
		t.Helper()
		res, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.TLS.PeerCertificates[0].SerialNumber.Int64(), res
	}
	open := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool1}, ForceAttemptHTTP2: true}}
	s, res := serial(open)
	if s != 1 || res.ProtoMajor != 2 || res.Header.Get("Strict-Transport-Security") != "max-age=172800" {
		t.Fatalf("serial %d, HTTP/%d, HSTS %q", s, res.ProtoMajor, res.Header.Get("Strict-Transport-Security"))
	}

	cert2, key2, pool2 := selfSigned(t, 2)
	writeFile(t, certFile, cert2) // the key still the old one
	waitFor(t, func() bool { return strings.Contains(logs.String(), "TLS certificate not reloaded") })
	fresh := func(pool *x509.CertPool) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	}
	if s, _ := serial(fresh(pool1)); s != 1 {
		t.Fatalf("a half-written pair replaced the certificate: serial %d", s)
	}
	writeFile(t, keyFile, key2)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "TLS certificate reloaded") })
	if s, _ := serial(fresh(pool2)); s != 2 {
		t.Fatalf("after the swap: serial %d", s)
	}
	if s, _ := serial(open); s != 1 {
		t.Fatalf("the open connection: serial %d", s)
	}
}

// waitFor polls cond until it holds (10 s at most).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// TestTLSReloadOnSIGHUP: with the file check far away, SIGHUP reloads the
// certificate (what `systemctl reload` sends).
func TestTLSReloadOnSIGHUP(t *testing.T) {
	certFile, keyFile, _ := writeSelfSigned(t, t.TempDir())
	r := runNode(t, config.Config{Dev: true, TLSCert: certFile, TLSKey: keyFile}, server.Options{CertPoll: time.Hour})
	logs, cfg, done := r.logs, r.cfg, r.done
	// Run has loaded the certificate and registered for SIGHUP once it
	// serves: wait for an answer before swapping the files.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
	waitFor(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned: %v", err)
		default:
		}
		res, err := c.Get("https://" + cfg.Addr + "/.well-known/jwks.json")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	cert2, key2, pool2 := selfSigned(t, 7)
	writeFile(t, certFile, cert2)
	writeFile(t, keyFile, key2)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "TLS certificate reloaded") })
	res, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool2}}}).Get("https://" + cfg.Addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if s := res.TLS.PeerCertificates[0].SerialNumber.Int64(); s != 7 {
		t.Fatalf("serial %d after SIGHUP", s)
	}
}
