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
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runBench is the load driver: it runs full email-code logins (start, read
// the code, exchange it) against a running server and prints throughput,
// each stage's latency percentiles, failures by stage and, with --ops, the
// server's CPU per login. Codes come from the dev capture of a server
// started with --dev, or with --smtp-listen from real mail: the driver runs
// an SMTP server and the server under test delivers to it.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:3000/", "base URL of a server started with --dev")
	clientID := fs.String("client-id", "", "application that has the passwordless OTP grant and the email connection")
	clientSecret := fs.String("client-secret", "", "its secret (empty for a public application)")
	concurrency := fs.Int("concurrency", 16, "logins in flight")
	duration := fs.Duration("duration", 10*time.Second, "how long to run (bounded: at most 10m)")
	maxLogins := fs.Int("n", 0, "stop after this many logins (0: run for --duration)")
	procs := fs.Int("procs", 1, "Go processors (GOMAXPROCS) the driver runs on: 1 leaves the other cores to a server on the same machine and spares the driver's own scheduling; raise it when the driver has a machine of its own and is the bottleneck; 0 leaves the process's setting as it is")
	users := fs.Int("users", 0, "log in this many existing users in turn, signed up before the run starts and not measured (at least --concurrency; 0: every login signs up a new user); each user then starts many logins, so the tenant's per-recipient limit must allow them, as scripts/bench-tenant.json does")
	scope := fs.String("scope", "openid email", "scope to request (openid adds a signed ID token)")
	insecure := fs.Bool("insecure", false, "skip TLS certificate checks (self-signed test servers)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	smtpListen := fs.String("smtp-listen", "", "run an SMTP server on this address (e.g. 127.0.0.1:2525) and read each code from the mail the server under test delivers to it (start that server with --smtp-url smtp://ADDR); without it, codes are read from the dev capture")
	codePattern := fs.String("code-pattern", defaultCodePattern, "with --smtp-listen: regular expression whose first group is the code in a message's text")
	ops := fs.String("ops", "", "the server's ops listener (e.g. http://127.0.0.1:9464/): its process_cpu_seconds_total before and after gives the server's CPU per login")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *clientID == "" {
		return usageError{errors.New("--client-id is required (the demo application printed by serve --dev)")}
	}
	if *concurrency < 1 || *concurrency > 1024 || *duration <= 0 || *duration > 10*time.Minute || *maxLogins < 0 {
		return usageError{errors.New("--concurrency must be 1–1024, --duration up to 10m, -n ≥ 0")}
	}
	if *procs < 0 || *procs > 1024 {
		return usageError{errors.New("--procs must be 0–1024")}
	}
	if *users != 0 && (*users < *concurrency || *users > 1_000_000) {
		return usageError{errors.New("--users must be 0 or from --concurrency to 1,000,000 (each login in flight has a user of its own)")}
	}
	if *procs > 0 {
		// (Tests run the driver in their own process with --procs 0.)
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*procs))
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
	if *smtpListen != "" {
		re, err := regexp.Compile(*codePattern)
		if err != nil || re.NumSubexp() < 1 {
			return usageError{fmt.Errorf("--code-pattern: want a regular expression with a group (%v)", err)}
		}
		if d.mail, err = startMailbox(*smtpListen, re); err != nil {
			return err
		}
		defer d.mail.close()
	}
	if *users > 0 {
		if err := d.signUp(ctx, *users, *concurrency); err != nil {
			return err
		}
	}
	cpuBefore, cpuErr := processCPU(ctx, d.client, *ops)

	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var (
		mu       sync.Mutex
		samples  []sample
		failures = map[string]int{}
		firstErr string
		issued   atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []sample
			for k := int64(0); ctx.Err() == nil; k++ {
				n := issued.Add(1)
				if *maxLogins > 0 && n > int64(*maxLogins) {
					break
				}
				user := n // a new user each time
				if *users > 0 {
					user = ownUser(*users, *concurrency, w, k)
				}
				smp, stage, err := d.login(ctx, n, user)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					mu.Lock()
					failures[stage]++
					if firstErr == "" {
						firstErr = stage + ": " + err.Error()
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, smp)
			}
			mu.Lock()
			samples = append(samples, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := benchResult{Logins: len(samples), Seconds: elapsed.Seconds(), Concurrency: *concurrency, Users: *users, Failures: failures,
		LoginsPerSecond: float64(len(samples)) / elapsed.Seconds(), FirstError: firstErr, Delivery: "dev capture"}
	if d.mail != nil {
		res.Delivery = "SMTP to " + *smtpListen
	}
	for _, st := range []struct {
		name string
		get  func(sample) time.Duration
	}{{"start", func(s sample) time.Duration { return s.start }}, {"code_arrival", func(s sample) time.Duration { return s.arrival }},
		{"token", func(s sample) time.Duration { return s.token }}, {"login", func(s sample) time.Duration { return s.total }}} {
		ds := make([]time.Duration, len(samples))
		for i, s := range samples {
			ds[i] = st.get(s)
		}
		res.Stages = append(res.Stages, percentiles(st.name, ds))
	}
	if *ops != "" {
		cpuAfter, err := processCPU(context.WithoutCancel(ctx), d.client, *ops)
		switch {
		case cpuErr != nil:
			res.CPUError = cpuErr.Error()
		case err != nil:
			res.CPUError = err.Error()
		case len(samples) > 0:
			res.CPUPerLoginMS = (cpuAfter - cpuBefore) * 1000 / float64(len(samples))
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		res.print(stdout)
	}
	if len(samples) == 0 {
		return errors.New("no login succeeded")
	}
	return nil
}

// sample is one login's stages: the start's answer, the code's arrival
// after it, the token exchange, and the whole login.
type sample struct{ start, arrival, token, total time.Duration }

// stageStats are one stage's latency percentiles.
type stageStats struct {
	Stage string  `json:"stage"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func percentiles(name string, ds []time.Duration) stageStats {
	slices.Sort(ds)
	at := func(p float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		return ms(ds[min(len(ds)-1, int(p*float64(len(ds))))])
	}
	return stageStats{Stage: name, P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: at(1)}
}

// benchResult is what bench prints.
type benchResult struct {
	Logins          int            `json:"logins"`
	Seconds         float64        `json:"seconds"`
	LoginsPerSecond float64        `json:"logins_per_second"`
	Concurrency     int            `json:"concurrency"`
	Users           int            `json:"existing_users,omitempty"`
	Delivery        string         `json:"delivery"`
	Stages          []stageStats   `json:"stages"`
	Failures        map[string]int `json:"failures_by_stage"`
	FirstError      string         `json:"first_error,omitempty"`
	CPUPerLoginMS   float64        `json:"server_cpu_ms_per_login,omitempty"`
	CPUError        string         `json:"server_cpu_error,omitempty"`
}

func (r benchResult) print(w io.Writer) {
	total := 0
	for _, n := range r.Failures {
		total += n
	}
	who := "a new user each"
	if r.Users > 0 {
		who = fmt.Sprintf("%d existing users in turn", r.Users)
	}
	fmt.Fprintf(w, "%d logins in %.1fs: %.0f logins/s (concurrency %d, %s, codes by %s), %d failures\n",
		r.Logins, r.Seconds, r.LoginsPerSecond, r.Concurrency, who, r.Delivery, total)
	for _, s := range r.Stages {
		fmt.Fprintf(w, "  %-13s p50 %6.1fms  p95 %6.1fms  p99 %6.1fms  max %6.1fms\n", s.Stage, s.P50, s.P95, s.P99, s.Max)
	}
	if r.CPUPerLoginMS > 0 {
		fmt.Fprintf(w, "server CPU: %.2f ms per login\n", r.CPUPerLoginMS)
	}
	if r.CPUError != "" {
		fmt.Fprintf(w, "server CPU unknown: %s\n", r.CPUError)
	}
	for stage, n := range r.Failures {
		fmt.Fprintf(w, "failures at %s: %d\n", stage, n)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}

// processCPU reads process_cpu_seconds_total from an ops listener's
// /metrics (0 and no error when ops is "").
func processCPU(ctx context.Context, c *http.Client, ops string) (float64, error) {
	if ops == "" {
		return 0, nil
	}
	u := strings.TrimSuffix(ops, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("--ops: %w", err)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("--ops: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("--ops: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("--ops: no process_cpu_seconds_total in " + u + " (not Linux?)")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// forwardedKey carries the synthetic user IP of one login.
type forwardedKey struct{}

type driver struct {
	base, clientID, secret, scope, run string
	client                             *http.Client
	mail                               *mailbox // --smtp-listen; nil: the dev capture
}

// ownUser is the user of worker w's k-th login when the run cycles through
// users existing users: worker w has those whose number is w modulo
// concurrency, so that no user is in two logins at once (a start replaces
// the user's outstanding code).
func ownUser(users, concurrency, w int, k int64) int64 {
	mine := int64((users - w + concurrency - 1) / concurrency)
	return int64(w) + (k%mine)*int64(concurrency)
}

// signUp signs up users 0…users-1 with one login each, concurrency at a
// time, before the measured run.
func (d *driver) signUp(ctx context.Context, users, concurrency int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, concurrency)
	for w := range concurrency {
		go func() {
			for k := range int64((users - w + concurrency - 1) / concurrency) {
				user := ownUser(users, concurrency, w, k)
				if _, stage, err := d.login(ctx, user, user); err != nil {
					// Sent before the others are cancelled: the first
					// error received is the cause, not a cancellation.
					errs <- fmt.Errorf("signing up user %d before the run: %s: %w", user, stage, err)
					cancel()
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range concurrency {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// login runs one full email-code login of user (a new one the first time
// the address is used) and says how long each stage took, or at which
// stage it failed; n numbers the login (its user IP).
func (d *driver) login(ctx context.Context, n, user int64) (sample, string, error) {
	email := fmt.Sprintf("bench-%s-%d@example.com", d.run, user)
	start := map[string]string{"client_id": d.clientID, "connection": "email", "send": "code", "email": email}
	if d.secret != "" {
		start["client_secret"] = d.secret
	}
	body, _ := json.Marshal(start)
	// Each login comes from its own (benchmark-range) user IP, passed the way
	// a backend passes its users' IPs; per-IP rate limits then see many
	// users, as in production (honoured for a trusted confidential app).
	ctx = context.WithValue(ctx, forwardedKey{}, fmt.Sprintf("198.18.%d.%d", (n>>8)&0xff, n&0xff))
	var got chan arrival
	if d.mail != nil {
		got = d.mail.expect(email)
		defer d.mail.forget(email)
	}
	var s sample
	t0 := time.Now()
	if _, err := d.do(ctx, "POST", "passwordless/start", "application/json", body); err != nil {
		return s, "start", err
	}
	t1 := time.Now()
	s.start = t1.Sub(t0)
	var code string
	if got != nil {
		select {
		case a := <-got:
			if a.err != nil {
				return s, "code_arrival", a.err
			}
			code, s.arrival = a.code, a.at.Sub(t1)
		case <-time.After(CaptureWait):
			return s, "code_arrival", fmt.Errorf("no message for %s after %v (does the server send to --smtp-listen?)", email, CaptureWait)
		case <-ctx.Done():
			return s, "code_arrival", ctx.Err()
		}
	} else {
		c, err := d.captured(ctx, email)
		if err != nil {
			return s, "code_arrival", err
		}
		code, s.arrival = c, time.Since(t1)
	}
	t2 := time.Now()
	form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {d.clientID},
		"realm": {"email"}, "username": {email}, "otp": {code}, "scope": {d.scope}}
	if d.secret != "" {
		form.Set("client_secret", d.secret)
	}
	if _, err := d.do(ctx, "POST", "oauth/token", "application/x-www-form-urlencoded", []byte(form.Encode())); err != nil {
		return s, "token", err
	}
	s.token, s.total = time.Since(t2), time.Since(t0)
	return s, "", nil
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
