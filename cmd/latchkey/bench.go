package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runBench is the load driver: it runs full email-code logins (start, read
// the code from the dev capture, exchange it) against a running
// `latchkey serve --dev` and prints throughput and latency percentiles.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:3000/", "base URL of a server started with --dev")
	clientID := fs.String("client-id", "", "application that has the passwordless OTP grant and the email connection")
	clientSecret := fs.String("client-secret", "", "its secret (empty for a public application)")
	concurrency := fs.Int("concurrency", 16, "logins in flight")
	duration := fs.Duration("duration", 10*time.Second, "how long to run (bounded: at most 10m)")
	maxLogins := fs.Int("n", 0, "stop after this many logins (0: run for --duration)")
	scope := fs.String("scope", "openid email", "scope to request (openid adds a signed ID token)")
	insecure := fs.Bool("insecure", false, "skip TLS certificate checks (self-signed test servers)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *clientID == "" {
		return usageError{errors.New("--client-id is required (the demo application printed by serve --dev)")}
	}
	if *concurrency < 1 || *concurrency > 1024 || *duration <= 0 || *duration > 10*time.Minute || *maxLogins < 0 {
		return usageError{errors.New("--concurrency must be 1–1024, --duration up to 10m, -n ≥ 0")}
	}
	base, err := url.Parse(*server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return usageError{fmt.Errorf("--server: %q is not an http(s) URL", *server)}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}
	if *insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	d := &driver{base: base.ResolveReference(&url.URL{Path: "/"}).String(), client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		clientID: *clientID, secret: *clientSecret, scope: *scope, run: fmt.Sprintf("%x", time.Now().UnixNano())}

	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  atomic.Int64
		firstErr  atomic.Value
		issued    atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				n := issued.Add(1)
				if *maxLogins > 0 && n > int64(*maxLogins) {
					break
				}
				t0 := time.Now()
				if err := d.login(ctx, n); err != nil {
					if ctx.Err() != nil {
						break
					}
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	res := map[string]any{"logins": len(latencies), "failures": failures.Load(), "seconds": elapsed.Seconds(),
		"logins_per_second": float64(len(latencies)) / elapsed.Seconds(), "concurrency": *concurrency,
		"p50_ms": ms(pct(0.50)), "p90_ms": ms(pct(0.90)), "p99_ms": ms(pct(0.99))}
	if e, ok := firstErr.Load().(string); ok {
		res["first_error"] = e
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "%d logins in %.1fs: %.0f logins/s (concurrency %d), %d failures\nlatency p50 %.1fms  p90 %.1fms  p99 %.1fms\n",
			len(latencies), elapsed.Seconds(), res["logins_per_second"], *concurrency, failures.Load(), res["p50_ms"], res["p90_ms"], res["p99_ms"])
		if e, ok := res["first_error"]; ok {
			fmt.Fprintf(stdout, "first error: %s\n", e)
		}
	}
	if len(latencies) == 0 {
		return errors.New("no login succeeded")
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// forwardedKey carries the synthetic user IP of one login.
type forwardedKey struct{}

type driver struct {
	base, clientID, secret, scope, run string
	client                             *http.Client
}

// login runs one full email-code login for a fresh address.
func (d *driver) login(ctx context.Context, n int64) error {
	email := fmt.Sprintf("bench-%s-%d@example.com", d.run, n)
	start := map[string]string{"client_id": d.clientID, "connection": "email", "send": "code", "email": email}
	if d.secret != "" {
		start["client_secret"] = d.secret
	}
	body, _ := json.Marshal(start)
	// Each login comes from its own (benchmark-range) user IP, passed the way
	// a backend passes its users' IPs; per-IP rate limits then see many
	// users, as in production (honoured for a trusted confidential app).
	ctx = context.WithValue(ctx, forwardedKey{}, fmt.Sprintf("198.18.%d.%d", (n>>8)&0xff, n&0xff))
	if _, err := d.do(ctx, "POST", "passwordless/start", "application/json", body); err != nil {
		return err
	}
	code, err := d.captured(ctx, email)
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {d.clientID},
		"realm": {"email"}, "username": {email}, "otp": {code}, "scope": {d.scope}}
	if d.secret != "" {
		form.Set("client_secret", d.secret)
	}
	_, err = d.do(ctx, "POST", "oauth/token", "application/x-www-form-urlencoded", []byte(form.Encode()))
	return err
}

// captured waits for the message to email in the dev capture (the outbox
// delivers it a few milliseconds after the start answers) and returns its
// code.
func (d *driver) captured(ctx context.Context, email string) (string, error) {
	wait := time.Millisecond
	deadline := time.Now().Add(CaptureWait)
	for {
		raw, err := d.do(ctx, "GET", "dev/outbox/messages?limit=1&to="+url.QueryEscape(email), "", nil)
		if err != nil {
			return "", err
		}
		var msgs []struct {
			Code string `json:"code"`
		}
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return "", fmt.Errorf("dev capture: %w", err)
		}
		if len(msgs) > 0 {
			return msgs[0].Code, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no captured message for %s after %v (is the server running with --dev?)", email, CaptureWait)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// CaptureWait bounds the wait for a code in the dev capture.
const CaptureWait = 10 * time.Second

func (d *driver) do(ctx context.Context, method, path, ct string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if ip, ok := ctx.Value(forwardedKey{}).(string); ok && d.secret != "" {
		req.Header.Set("Auth0-Forwarded-For", ip)
	}
	res, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}
