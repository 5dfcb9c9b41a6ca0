package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// opsImitation imitates the ops listener's /health/ready: answering 200
// or 503 with its JSON, redirecting, or never answering.
func opsImitation(t *testing.T, behaviour string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch behaviour {
		case "ready":
			w.Write([]byte(`{"status":"ok","checks":{"store":"ok","redis":"ok"}}`))
		case "unavailable":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"unavailable","checks":{"store":"ok","redis":"timeout after 1s"}}`))
		case "redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "hang":
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestHealthcheck(t *testing.T) {
	closed := freeAddr(t) // nothing listens there
	_, port, _ := net.SplitHostPort(opsImitation(t, "ready"))
	tests := []struct {
		name     string
		args     []string
		env      string // LATCHKEY_OPS_ADDR
		code     int
		out, err string
	}{
		{"ready", []string{"--ops-addr", opsImitation(t, "ready")}, "", exitOK, `"status":"ok"`, ""},
		{"unavailable", []string{"--ops-addr", opsImitation(t, "unavailable")}, "", exitFailure, "", `503 Service Unavailable: {"status":"unavailable","checks":{"store":"ok","redis":"timeout after 1s"}}`},
		{"redirect is not ready", []string{"--ops-addr", opsImitation(t, "redirect")}, "", exitFailure, "", "302 Found"},
		{"nothing listening", []string{"--ops-addr", closed}, "", exitFailure, "", "connection refused"},
		{"from the environment", nil, opsImitation(t, "ready"), exitOK, `"status":"ok"`, ""},
		{"flag beats the environment", []string{"--ops-addr", opsImitation(t, "unavailable")}, opsImitation(t, "ready"), exitFailure, "", "503"},
		{"unspecified host is loopback", []string{"--ops-addr", "0.0.0.0:" + port}, "", exitOK, `"status":"ok"`, ""},
		{"empty host is loopback", nil, ":" + port, exitOK, `"status":"ok"`, ""},
		{"ops listener off", []string{"--ops-addr", "off"}, "", exitUsage, "", "the ops listener is off"},
		{"bad address", []string{"--ops-addr", "localhost"}, "", exitUsage, "", "--ops-addr"},
		{"bad variable", nil, "nohostport", exitUsage, "", "--ops-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LATCHKEY_OPS_ADDR", tt.env)
			out, errOut, code := cli(t, append([]string{"healthcheck"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q", code, tt.code, out, errOut, tt.out, tt.err)
			}
		})
	}
}

// TestHealthcheckTimeout: a server that does not answer in time is not
// healthy (with a short deadline instead of the command's 2 seconds).
func TestHealthcheckTimeout(t *testing.T) {
	t.Parallel()
	u, err := readyURL(opsImitation(t, "hang"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = healthcheck(ctx, http.DefaultTransport.(*http.Transport).Clone(), u)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("healthcheck of a hung server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestReadyURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, want string }{
		{"127.0.0.1:9464", "http://127.0.0.1:9464/health/ready"},
		{"0.0.0.0:9464", "http://127.0.0.1:9464/health/ready"},
		{":9464", "http://127.0.0.1:9464/health/ready"},
		{"[::]:9464", "http://[::1]:9464/health/ready"},
		{"[::1]:9464", "http://[::1]:9464/health/ready"},
		{"ops.internal:9464", "http://ops.internal:9464/health/ready"},
	}
	for _, tt := range tests {
		if got, err := readyURL(tt.addr); err != nil || got != tt.want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
}
