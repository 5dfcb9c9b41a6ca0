package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/config"
)

// healthcheckTimeout bounds the whole check: a container runtime runs it
// every few seconds and a hung server must count as unhealthy.
const healthcheckTimeout = 2 * time.Second

func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opsAddr string
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: latchkey healthcheck [--ops-addr HOST:PORT]

Asks a running server whether it is ready (GET /health/ready on its ops
listener) and exits 0 when it answers 200, 1 otherwise (the status and body
go to stderr), within 2 seconds. For container HEALTHCHECKs on images without
a shell or curl: HEALTHCHECK CMD ["/latchkey", "healthcheck"].

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&opsAddr, "ops-addr", config.DefaultOpsAddr, "the server's ops listener (serve --ops-addr); an unspecified host (0.0.0.0, [::]) is reached on loopback")
	config.DocumentEnv(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil {
		return usageError{err}
	}
	u, err := readyURL(opsAddr)
	if err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	body, err := healthcheck(ctx, http.DefaultTransport.(*http.Transport).Clone(), u)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, body)
	return nil
}

// readyURL is the /health/ready URL of the ops listener at addr.
func readyURL(addr string) (string, error) {
	if addr == "" || addr == "off" {
		return "", errors.New("--ops-addr: the ops listener is off; there is nothing to check")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--ops-addr: %w", err)
	}
	// A server listening on every address is reached on loopback.
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if err == nil && ip.Is6() {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/health/ready", nil
}

// healthcheck GETs url through tr (no proxy: the server is local) and
// returns the body of a 200; any other answer, or none before ctx is done,
// is an error carrying the status and the body.
func healthcheck(ctx context.Context, tr *http.Transport, url string) (string, error) {
	tr.Proxy = nil
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("not healthy: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	body := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("not healthy: GET %s: %s: %s", url, resp.Status, body)
	}
	if err != nil {
		return "", fmt.Errorf("not healthy: GET %s: read the body: %w", url, err)
	}
	return body, nil
}
