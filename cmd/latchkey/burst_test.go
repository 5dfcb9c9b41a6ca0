package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/testpg"
	"github.com/latchkey/latchkey/internal/testredis"
)

const burstTenant = `{"settings": {"latchkey": {"rate_limits": {
    "passwordless_start": {"burst": 5000, "rate": 5000, "interval_seconds": 3600},
    "token": {"burst": 100, "rate": 100, "interval_seconds": 3600},
    "per_recipient": {"burst": 10, "rate": 10, "interval_seconds": 3600}}}},
 "clients": [
  {"client_id": "native", "name": "Native", "app_type": "native", "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]},
  {"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij", "name": "Web", "app_type": "regular_web",
   "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"], "is_token_endpoint_ip_header_trusted": true}],
 "connections": [{"name": "email", "strategy": "email", "enabled_clients": ["native", "web"],
   "options": {"brute_force_protection": true}}]}`

// burstSize is the number of concurrent requests of each burst, split
// evenly over the two nodes.
const burstSize = 500

// TestBurstTwoNodes: bursts of 500 concurrent requests split over two
// latchkey processes sharing one PostgreSQL and one Redis. Every shared
// limit lets through at most its size + 1 % (and, as nothing refills
// meanwhile to speak of, at least its size), and while Redis is up no
// legitimate request is refused: every limiter decision of a request is one
// script on Redis's clock, over a pool sized for the burst.
func TestBurstTwoNodes(t *testing.T) {
	// Not parallel with the package's other tests: it measures limits and
	// latencies under its own load, which other process-spawning tests
	// sharing the machine's two cores would distort (a node starved of CPU
	// for a second times out its Redis calls).
	pg := testpg.SchemaURL(t, "burst")
	redisURL, _ := testredis.ServerURL(t, "burst")
	dir := t.TempDir()
	var nodes [2]string
	for i := range nodes {
		addr := freeAddr(t)
		issuer := "http://" + addr + "/"
		tf := filepath.Join(dir, fmt.Sprintf("tenant%d.json", i))
		if err := os.WriteFile(tf, []byte(burstTenant), 0o600); err != nil {
			t.Fatal(err)
		}
		startProcess(t, []string{"serve", "--dev", "--addr", addr, "--issuer", issuer, "--data-dir", filepath.Join(dir, fmt.Sprint("node", i)),
			"--bootstrap", tf, "--database-url", pg, "--redis-url", redisURL, "--log-level", "error"}, issuer)
		nodes[i] = issuer
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: burstSize, MaxConnsPerHost: 0}}

	type answer struct {
		status int
		code   string // the error code, if any
		retry  string // Retry-After
	}
	// burst sends n requests at once, request i to node i%2, and returns
	// the answers.
	burst := func(n int, req func(i int, base string) *http.Request) []answer {
		out := make([]answer, n)
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				r := req(i, nodes[i%2])
				ready.Done()
				<-start
				res, err := client.Do(r)
				if err != nil {
					out[i] = answer{code: err.Error()}
					return
				}
				defer res.Body.Close()
				var body struct {
					Error string `json:"error"`
				}
				b, _ := io.ReadAll(res.Body)
				json.Unmarshal(b, &body)
				out[i] = answer{status: res.StatusCode, code: body.Error, retry: res.Header.Get("Retry-After")}
			}()
		}
		ready.Wait()
		close(start)
		done.Wait()
		return out
	}
	tally := func(as []answer) map[string]int {
		m := map[string]int{}
		for _, a := range as {
			m[fmt.Sprintf("%d %s", a.status, a.code)]++
			if a.status == 429 && a.retry == "" {
				m["429 without Retry-After"]++
			}
		}
		return m
	}
	jsonReq := func(base, path string, body any, hdr map[string]string) *http.Request {
		b, _ := json.Marshal(body)
		r, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	otpReq := func(base, clientID, secret, ip, email string) *http.Request {
		form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {clientID},
			"username": {email}, "otp": {"000000"}, "realm": {"email"}}
		if secret != "" {
			form.Set("client_secret", secret)
		}
		r, _ := http.NewRequest("POST", base+"oauth/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if ip != "" {
			r.Header.Set("Auth0-Forwarded-For", ip)
		}
		return r
	}
	// within reports whether allowed is within [limit, limit + 1 %].
	within := func(allowed, limit int) bool { return allowed >= limit && allowed <= limit+limit/100 }

	t.Run("token limit of 100 from one address", func(t *testing.T) {
		got := tally(burst(burstSize, func(i int, base string) *http.Request {
			return otpReq(base, "native", "", "", fmt.Sprintf("guess%d@example.com", i))
		}))
		// Admitted requests answer a wrong code (403); the others the limit's 429.
		if admitted := got["403 invalid_grant"]; !within(admitted, 100) || admitted+got["429 too_many_requests"] != burstSize {
			t.Errorf("answers %v: want 100 (at most 101) admitted, the rest 429 with Retry-After", got)
		}
		t.Logf("token limit 100: %v", got)
	})

	t.Run("per-recipient cap of 10", func(t *testing.T) {
		got := tally(burst(burstSize, func(i int, base string) *http.Request {
			return jsonReq(base, "passwordless/start", map[string]any{"client_id": "native", "connection": "email",
				"send": "code", "email": "popular@example.com"}, nil)
		}))
		if sent := got["200 "]; !within(sent, 10) || sent+got["429 too_many_requests"] != burstSize {
			t.Errorf("answers %v: want 10 sent, the rest 429 with Retry-After", got)
		}
		t.Logf("per-recipient cap 10: %v", got)
	})

	t.Run("legitimate signups are all served", func(t *testing.T) {
		// 500 new users behind 500 addresses: no limit applies, the
		// signup throttle (which fails closed) included.
		got := tally(burst(burstSize, func(i int, base string) *http.Request {
			return jsonReq(base, "passwordless/start", map[string]any{"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij",
				"connection": "email", "send": "code", "email": fmt.Sprintf("new%d@example.com", i)},
				map[string]string{"Auth0-Forwarded-For": fmt.Sprintf("198.51.%d.%d", 100+i/250, i%250+1)})
		}))
		if got["200 "] != burstSize {
			t.Errorf("answers %v: want all %d served", got, burstSize)
		}
	})

	t.Run("legitimate code attempts are all answered", func(t *testing.T) {
		// 500 attempts from 500 addresses (wrong codes: the answer is the
		// code's, never the protection's, which fails closed).
		got := tally(burst(burstSize, func(i int, base string) *http.Request {
			return otpReq(base, "web", "web-secret-0123456789abcdefghij", fmt.Sprintf("203.0.%d.%d", 100+i/250, i%250+1),
				fmt.Sprintf("user%d@example.com", i))
		}))
		if got["403 invalid_grant"] != burstSize {
			t.Errorf("answers %v: want all %d answered by the code (403)", got, burstSize)
		}
	})
}
