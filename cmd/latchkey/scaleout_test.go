package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkey/latchkey/internal/testpg"
	"github.com/latchkey/latchkey/internal/testredis"
)

// The scale-out rig: three `latchkey serve` processes on one PostgreSQL
// and one Redis behind a real load balancer (HAProxy), a bounded load of
// email-code logins through it, and one node killed with SIGKILL mid-run.
// docs/reliability.md reports what it measures and how to re-run it.

// Rig sizes and limits (also in docs/reliability.md).
const (
	rigNodes       = 3
	rigWorkers     = 6               // concurrent login flows
	rigLoad        = 6 * time.Second // how long new logins are started
	rigKillAfter   = 2 * time.Second // when one node is killed
	rigBurst       = 120             // requests in each limit burst
	rigStartLimit  = 20              // the tenant's passwordless_start burst (per IP)
	rigRecipient   = 10              // the per-recipient cap's burst (the default)
	rigDeliverySLO = 15 * time.Second
)

const rigTenant = `{"settings": {"latchkey": {"rate_limits": {
   "passwordless_start": {"burst": 20, "rate": 20, "interval_seconds": 3600},
   "token": {"burst": 1000, "rate": 1000, "interval_seconds": 1}}}},
 "clients": [{"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij", "name": "Web",
   "app_type": "regular_web", "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]}],
 "connections": [{"name": "email", "strategy": "email", "enabled_clients": ["web"]}]}`

// rigMail is one message the rig's SMTP server accepted.
type rigMail struct {
	to, code, messageID string
	at                  time.Time
}

// rigSink is the SMTP server every node delivers to.
type rigSink struct {
	mu    sync.Mutex
	mails []rigMail
}

var (
	rigCodeRe = regexp.MustCompile(`code for Web is: ([0-9]{6})`)
	rigMsgID  = regexp.MustCompile(`(?im)^Message-Id:\s*(\S+)`)
)

func (s *rigSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &rigSession{s: s}, nil }

type rigSession struct {
	s  *rigSink
	to []string
}

func (x *rigSession) Reset()                               { x.to = nil }
func (x *rigSession) Logout() error                        { return nil }
func (x *rigSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *rigSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, strings.ToLower(to))
	return nil
}
func (x *rigSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := rigMail{at: time.Now()}
	if c := rigCodeRe.FindSubmatch(b); c != nil {
		m.code = string(c[1])
	}
	if id := rigMsgID.FindSubmatch(b); id != nil {
		m.messageID = string(id[1])
	}
	x.s.mu.Lock()
	for _, to := range x.to {
		m.to = to
		x.s.mails = append(x.s.mails, m)
	}
	x.s.mu.Unlock()
	return nil
}

// first returns the first mail to to, if one has come.
func (s *rigSink) first(to string) (rigMail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mails {
		if m.to == to {
			return m, true
		}
	}
	return rigMail{}, false
}

func (s *rigSink) all() []rigMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// rigCall is one HTTP request of the run.
type rigCall struct {
	stage      string // start, token, burst-recipient, burst-ip, double
	begin, end time.Time
	status     int // 0: no answer
	err        error
}

type rigRecorder struct {
	mu    sync.Mutex
	calls []rigCall
}

func (r *rigRecorder) add(c rigCall) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// haproxyPath finds Debian's HAProxy (scripts/test installs it); without
// it the rig is skipped, except under CI, where that is a failure.
func haproxyPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("LATCHKEY_HAPROXY"), "haproxy", "/usr/sbin/haproxy"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("haproxy not found: the scale-out rig must run in CI (scripts/test installs Debian's haproxy)")
	}
	t.Skip("haproxy not found (apt-get install haproxy, or set LATCHKEY_HAPROXY)")
	return ""
}

// startHAProxy balances lb over the nodes, round robin, checking each
// node's readiness on its ops listener every 200 ms. A request whose
// connection to a node fails (the node is dead) is sent to another node;
// a request a node received and never answered is not retried (it was in
// flight: the client sees a 502).
func startHAProxy(t *testing.T, bin, lb string, nodes, ops []string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch 1
  retry-on conn-failure
frontend fe
  bind %s
  option forwardfor
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  timeout check 2s
  default-server inter 200ms fall 2 rise 2
`, lb)
	for i := range nodes {
		_, port, _ := net.SplitHostPort(ops[i])
		fmt.Fprintf(&b, "  server n%d %s check port %s\n", i+1, nodes[i], port)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := http.Get("http://" + lb + "/.well-known/openid-configuration")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScaleOut runs the rig: see docs/reliability.md.
func TestScaleOut(t *testing.T) {
	// Not parallel with the package's other tests: it measures limits and
	// latencies under its own load, which other process-spawning tests
	// sharing the machine's two cores would distort (a node starved of CPU
	// for a second times out its Redis calls).
	bin := haproxyPath(t)
	pg := testpg.SchemaURL(t, "scaleout")
	redisURL, _ := testredis.ServerURL(t, "scaleout")

	sink := &rigSink{}
	srv := smtp.NewServer(sink)
	srv.Domain, srv.AllowInsecureAuth, srv.MaxRecipients = "sink.test", true, 10
	srv.ErrorLog = log.New(io.Discard, "", 0) // the killed node's connections reset
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(sln)
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	tf := filepath.Join(dir, "tenant.json")
	if err := os.WriteFile(tf, []byte(rigTenant), 0o600); err != nil {
		t.Fatal(err)
	}
	lb := freeAddr(t)
	var nodes, ops []string
	var procs []*exec.Cmd
	for i := range rigNodes {
		addr, opsAddr := freeAddr(t), freeAddr(t)
		nodes, ops = append(nodes, addr), append(ops, opsAddr)
		args := []string{"serve", "--addr", addr, "--ops-addr", opsAddr, "--issuer", "http://" + lb + "/",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("node%d", i+1)), "--bootstrap", tf,
			"--database-url", pg, "--redis-url", redisURL, "--trusted-proxies", "127.0.0.1/32",
			"--smtp-url", "smtp://" + sln.Addr().String() + "?from=login%40latchkey.test", "--log-level", "error"}
		procs = append(procs, startProcess(t, args, "http://"+addr+"/"))
	}
	startHAProxy(t, bin, lb, nodes, ops)
	base := "http://" + lb + "/"

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	rec := &rigRecorder{}
	var ipSeq atomic.Int64
	nextIP := func() string {
		n := ipSeq.Add(1)
		return fmt.Sprintf("10.%d.%d.%d", 1+n/65536%200, n/256%256, n%256)
	}
	post := func(stage, path, ct, body, ip string) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-Forwarded-For", ip)
		c := rigCall{stage: stage, begin: time.Now()}
		res, err := client.Do(req)
		var b []byte
		if err == nil {
			b, err = io.ReadAll(res.Body)
			res.Body.Close()
			c.status = res.StatusCode
		}
		c.end, c.err = time.Now(), err
		rec.add(c)
		return c.status, string(b)
	}
	start := func(stage, email, ip string) (int, time.Time) {
		st, _ := post(stage, "passwordless/start", "application/json", fmt.Sprintf(
			`{"client_id":"web","client_secret":"web-secret-0123456789abcdefghij","connection":"email","send":"code","email":%q}`, email), ip)
		return st, time.Now()
	}
	token := func(stage, email, code, ip string) int {
		st, _ := post(stage, "oauth/token", "application/x-www-form-urlencoded", url.Values{
			"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {"web"},
			"client_secret": {"web-secret-0123456789abcdefghij"}, "username": {email}, "otp": {code}, "realm": {"email"}}.Encode(), ip)
		return st
	}

	type accepted struct {
		to string
		at time.Time
	}
	var (
		mu        sync.Mutex
		accepts   []accepted          // starts answered 200
		redeemed  = map[string]bool{} // "email code" of every login
		logins    int
		waitFails int
	)
	accept := func(to string, at time.Time) {
		mu.Lock()
		accepts = append(accepts, accepted{to, at})
		mu.Unlock()
	}

	runStart := time.Now()
	killAt := runStart.Add(rigKillAfter)
	ctx, cancel := context.WithDeadline(t.Context(), runStart.Add(rigLoad))
	defer cancel()
	var wg sync.WaitGroup
	for w := range rigWorkers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				email := fmt.Sprintf("load-%d-%d@example.com", w, i)
				ip := nextIP()
				st, at := start("start", email, ip)
				if st != 200 {
					continue
				}
				accept(email, at)
				var m rigMail
				for deadline := time.Now().Add(rigDeliverySLO + 10*time.Second); ; time.Sleep(5 * time.Millisecond) {
					var ok bool
					if m, ok = sink.first(email); ok {
						break
					}
					if time.Now().After(deadline) {
						mu.Lock()
						waitFails++
						mu.Unlock()
						break
					}
				}
				if m.code == "" {
					continue
				}
				if token("token", email, m.code, ip) == 200 {
					mu.Lock()
					logins++
					redeemed[email+" "+m.code] = true
					mu.Unlock()
				}
			}
		})
	}

	// The kill, and around it two bursts against shared limits, each
	// spread by the balancer over every node: one address's per-recipient
	// cap (distinct IPs), and one IP's start limit (distinct addresses).
	time.Sleep(time.Until(killAt.Add(-300 * time.Millisecond)))
	var capped, fromOneIP atomic.Int64
	var bursts sync.WaitGroup
	for i := range rigBurst {
		bursts.Go(func() {
			if st, at := start("burst-recipient", "capped@example.com", nextIP()); st == 200 {
				capped.Add(1)
				accept("capped@example.com", at)
			}
		})
		bursts.Go(func() {
			email := fmt.Sprintf("one-ip-%d@example.com", i)
			if st, at := start("burst-ip", email, "10.250.0.1"); st == 200 {
				fromOneIP.Add(1)
				accept(email, at)
			}
		})
	}
	time.Sleep(time.Until(killAt))
	killed := procs[1]
	killSent := time.Now()
	if err := killed.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	killed.Wait()
	killAt = time.Now()
	bursts.Wait()
	wg.Wait()

	// Every accepted message arrives, within the SLO of the later of its
	// answer and the kill.
	mu.Lock()
	defer mu.Unlock()
	var late []string
	var worst time.Duration
	for deadline := time.Now().Add(rigDeliverySLO + 5*time.Second); ; time.Sleep(20 * time.Millisecond) {
		late = late[:0]
		for _, a := range accepts {
			if _, ok := sink.first(a.to); !ok {
				late = append(late, a.to)
			}
		}
		if len(late) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, a := range accepts {
		m, ok := sink.first(a.to)
		if !ok {
			continue
		}
		due := a.at.Add(rigDeliverySLO)
		if a.at.Before(killAt) {
			due = killAt.Add(rigDeliverySLO)
		}
		if m.at.After(due) {
			t.Errorf("%s: delivered %v after its answer (%v after the kill)", a.to, m.at.Sub(a.at), m.at.Sub(killAt))
		}
		if a.at.Before(killAt) {
			worst = max(worst, m.at.Sub(a.at))
		}
	}
	if len(late) > 0 {
		t.Errorf("%d accepted messages never delivered: %v", len(late), late[:min(5, len(late))])
	}

	// Only requests in flight at the kill failed: no answer, or the
	// balancer's 502 for a node that died holding the request, for a
	// request sent before the kill and ended after it. Any other 5xx
	// (Latchkey's own, such as a 503 for a limiter deadline) is a failure.
	var inFlight, failed int
	for _, c := range rec.calls {
		if c.status != 0 && c.status < 500 {
			continue
		}
		failed++
		if (c.status == 0 || c.status == http.StatusBadGateway) && c.begin.Before(killAt) && !c.end.Before(killSent) {
			inFlight++
			continue
		}
		t.Errorf("%s request failed outside the kill: began %v after the kill, status %d, %v", c.stage, c.begin.Sub(killAt), c.status, c.err)
	}

	// Shared limits held: at most the limit, plus 1 %.
	if n := capped.Load(); n > rigRecipient*101/100 {
		t.Errorf("per-recipient cap %d let %d of %d through", rigRecipient, n, rigBurst)
	}
	if n := fromOneIP.Load(); n > rigStartLimit*101/100 {
		t.Errorf("start limit %d per IP let %d of %d through", rigStartLimit, n, rigBurst)
	}
	ids := map[string]bool{}
	dups := 0 // resends of one outbox message (same Message-ID): the at-least-once window
	seen := map[string]bool{}
	for _, m := range sink.all() {
		if m.messageID == "" {
			t.Errorf("a message to %s without a Message-ID", m.to)
		}
		if seen[m.messageID] {
			dups++
		}
		seen[m.messageID] = true
		if m.to == "capped@example.com" {
			ids[m.messageID] = true
		}
	}
	if len(ids) > rigRecipient*101/100 {
		t.Errorf("%d messages to the capped address", len(ids))
	}

	// No code was redeemed twice: every code used is refused now, and a
	// fresh code tried by many at once through every node logs in once.
	reused := 0
	for k := range redeemed {
		email, code, _ := strings.Cut(k, " ")
		if token("reuse", email, code, nextIP()) == 200 {
			reused++
		}
	}
	if reused > 0 {
		t.Errorf("%d codes redeemed a second time", reused)
	}
	var raced []int
	for i := range 3 {
		email := fmt.Sprintf("race-%d@example.com", i)
		ip := nextIP()
		if st, _ := start("start", email, ip); st != 200 {
			t.Fatalf("start %s: %d", email, st)
		}
		var m rigMail
		waitUntil(t, func() bool { var ok bool; m, ok = sink.first(email); return ok })
		var wins atomic.Int64
		var race sync.WaitGroup
		for range 20 {
			race.Go(func() {
				if token("double", email, m.code, ip) == 200 {
					wins.Add(1)
				}
			})
		}
		race.Wait()
		raced = append(raced, int(wins.Load()))
		if wins.Load() != 1 {
			t.Errorf("a code tried 20 times at once through the balancer gave %d logins", wins.Load())
		}
	}

	var lat []time.Duration
	for _, c := range rec.calls {
		if c.stage == "start" && c.status == 200 {
			lat = append(lat, c.end.Sub(c.begin))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50 := time.Duration(0)
	if len(lat) > 0 {
		p50 = lat[len(lat)/2]
	}
	t.Logf("scale-out rig: %d nodes behind HAProxy, %d workers for %v, node 2 killed at %v: %d logins (%.0f/s), "+
		"%d requests, %d failed (%d in flight at the kill), %d accepted messages, slowest delivery of a message accepted before the kill %v, "+
		"%d waits for a code beyond the SLO, %d resends (same Message-ID), per-recipient cap %d: %d/%d through, start limit %d/IP: %d/%d through, "+
		"%d codes reused: %d; concurrent redemptions %v; start p50 %v",
		rigNodes, rigWorkers, rigLoad, rigKillAfter, logins, float64(logins)/rigLoad.Seconds(),
		len(rec.calls), failed, inFlight, len(accepts), worst.Round(time.Millisecond),
		waitFails, dups, rigRecipient, capped.Load(), rigBurst, rigStartLimit, fromOneIP.Load(), rigBurst,
		len(redeemed), reused, raced, p50.Round(time.Microsecond))
	if logins == 0 {
		t.Error("no login went through")
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		t.Log("load stopped early")
	}
}
