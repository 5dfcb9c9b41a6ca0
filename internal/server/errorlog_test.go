package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
)

// logNode is a node whose JSON log the test reads.
type logNode struct {
	base string
	http *http.Client
	logs *syncBuffer
}

func newLogNode(t *testing.T) *logNode {
	t.Helper()
	dir := t.TempDir()
	ts := httptest.NewUnstartedServer(nil)
	cfg := config.Config{DataDir: filepath.Join(dir, "data"), Dev: true, Bootstrap: filepath.Join(dir, "tenant.json"), LogFormat: "json",
		Addr: ts.Listener.Addr().String()}
	cfg.Issuer = "https://" + cfg.Addr
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Bootstrap, tenantFileFor(cfg.Issuer), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, nil)), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.StartTLS()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &logNode{base: strings.TrimSuffix(cfg.Issuer, "/") + "/", http: ts.Client(), logs: logs}
}

// lines are the node's log records for the request with id.
func (n *logNode) lines(t *testing.T, id string) (failed, access []map[string]any) {
	t.Helper()
	for _, line := range strings.Split(n.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["request_id"] != id {
			continue
		}
		switch m["msg"] {
		case "request failed":
			failed = append(failed, m)
		case "request":
			access = append(access, m)
		}
	}
	return failed, access
}

func (n *logNode) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := n.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestErrorsInLog: a refused request's answer is Auth0's, its cause is in
// the server log (with the request id) and never in the answer, and the
// one access-log line of every error answer names its code (an error page
// and an error sent to the callback included).
func TestErrorsInLog(t *testing.T) {
	n := newLogNode(t)

	// A wrong code at the token endpoint: 403 invalid_grant, caused by
	// passwordless's wrong-code refusal.
	form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {webID},
		"client_secret": {webSecret}, "username": {"ana@example.com"}, "otp": {"000000"}, "realm": {"email"}}
	req, _ := http.NewRequest("POST", n.base+"oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, body := n.do(t, req)
	id := res.Header.Get("X-Request-Id")
	if res.StatusCode != 403 || body != `{"error":"invalid_grant","error_description":"Wrong email or verification code."}` {
		t.Fatalf("wrong code: %d %s", res.StatusCode, body)
	}
	const cause = "wrong identifier or code"
	if strings.Contains(body, cause) {
		t.Error("the cause was sent")
	}
	failed, access := n.lines(t, id)
	if len(failed) != 1 || failed[0]["level"] != "WARN" || failed[0]["cause"] != cause || failed[0]["route"] != "/oauth/token" ||
		failed[0]["method"] != "POST" || failed[0]["error"] != "invalid_grant" {
		t.Errorf("request-failed lines %v", failed)
	}
	if len(access) != 1 || access[0]["error"] != "invalid_grant" || access[0]["cause"] != cause || access[0]["status"] != float64(403) {
		t.Errorf("access lines %v", access)
	}
	if strings.Contains(n.logs.String(), "000000") {
		t.Error("the code presented is in the log")
	}

	// An error page (no client_id at /authorize) and an error sent to the
	// callback (prompt=none without a session).
	res, _ = n.do(t, must(http.NewRequest("GET", n.base+"authorize?response_type=code", nil)))
	_, access = n.lines(t, res.Header.Get("X-Request-Id"))
	if res.StatusCode != 400 || len(access) != 1 || access[0]["error"] != "invalid_request" || access[0]["cause"] == nil {
		t.Errorf("error page: %d, access lines %v", res.StatusCode, access)
	}
	n.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	q := url.Values{"client_id": {webID}, "response_type": {"code"}, "redirect_uri": {"https://app.example.com/callback"},
		"prompt": {"none"}, "state": {"s"}}
	res, _ = n.do(t, must(http.NewRequest("GET", n.base+"authorize?"+q.Encode(), nil)))
	_, access = n.lines(t, res.Header.Get("X-Request-Id"))
	if res.StatusCode != 302 || !strings.Contains(res.Header.Get("Location"), "error=login_required") ||
		len(access) != 1 || access[0]["error"] != "login_required" {
		t.Errorf("prompt=none: %d %s, access lines %v", res.StatusCode, res.Header.Get("Location"), access)
	}

	// The Management API without a token: its 401 has no code; its text
	// explains it.
	res, _ = n.do(t, must(http.NewRequest("GET", n.base+"api/v2/clients", bytes.NewReader(nil))))
	_, access = n.lines(t, res.Header.Get("X-Request-Id"))
	if res.StatusCode != 401 || len(access) != 1 || access[0]["cause"] != "401: Missing authentication" {
		t.Errorf("management 401: %d, access lines %v", res.StatusCode, access)
	}
}

func must(r *http.Request, err error) *http.Request {
	if err != nil {
		panic(err)
	}
	return r
}
