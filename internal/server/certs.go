package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certReloader serves the TLS certificate from --tls-cert/--tls-key and
// swaps in a new one when the files change (checked every poll interval)
// or on demand (SIGHUP): new handshakes get the new certificate, open
// connections keep theirs. A pair that does not load (a renewal caught
// between writing the certificate and the key) keeps the old one in use
// and is tried again at the next change.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // serialises reloads
	loaded  [32]byte   // digest of the files last loaded (or tried)
	current [32]byte   // digest of the pair in use
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := c.reload(true); err != nil {
		return nil, err
	}
	return c, nil
}

// GetCertificate is the tls.Config hook.
func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// reload reads both files and, when they differ from the pair last tried
// (or force is set), loads them. It reports whether a new pair is in use.
func (c *certReloader) reload(force bool) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return false, fmt.Errorf("read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return false, fmt.Errorf("read TLS key: %w", err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if !force && sum == c.loaded {
		return false, nil
	}
	c.loaded = sum
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("load TLS key pair %s, %s: %w", c.certFile, c.keyFile, err)
	}
	if sum == c.current && c.cert.Load() != nil {
		return false, nil
	}
	c.current = sum
	c.cert.Store(&pair)
	return true, nil
}

// watch reloads when the files change (polling every interval) and when
// hup delivers, until ctx is done.
func (c *certReloader) watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			force = true
		}
		changed, err := c.reload(force)
		switch {
		case err != nil:
			c.log.Error("TLS certificate not reloaded; the previous one stays in use", "err", err)
		case changed:
			leaf := c.cert.Load().Leaf
			attrs := []any{"cert", c.certFile}
			if leaf != nil {
				attrs = append(attrs, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			c.log.Info("TLS certificate reloaded", attrs...)
		}
	}
}
