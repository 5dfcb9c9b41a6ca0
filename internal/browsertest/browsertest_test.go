package browsertest_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/browsertest"
)

const formPage = `<!doctype html>
<title>form</title>
<form id="f"><input id="v" name="v"><button id="go" type="submit">Go</button></form>
<p id="out"></p>
<a id="next" href="/auth0#frag">next</a>
<script>
document.getElementById('f').addEventListener('submit', (e) => {
  e.preventDefault();
  const v = document.getElementById('v').value;
  document.getElementById('out').textContent = 'got ' + v;
  window.submitted = v;
  console.log('submitted ' + v);
});
</script>`

const auth0Page = `<!doctype html>
<title>auth0</title>
<script src="/auth0.min.js"></script>
<script>
window.ok = typeof auth0.WebAuth === 'function';
window.webAuth = new auth0.WebAuth({domain: location.host, clientID: 'smoke', responseType: 'token id_token'});
</script>`

// smokeServer serves the test pages from 127.0.0.1 over TLS (a self-signed certificate).
func smokeServer(t *testing.T) *httptest.Server {
	auth0JS := browsertest.Auth0JS(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "smoke", Value: "1", Path: "/", Secure: true, HttpOnly: true})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, formPage)
	})
	mux.HandleFunc("GET /codes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"code":"123456"}]`)
	})
	mux.HandleFunc("GET /auth0", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, auth0Page)
	})
	mux.HandleFunc("GET /auth0.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, auth0JS)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewUnstartedServer(mux)
	// Chromium first rejects the self-signed certificate (playwright then lets it through):
	// keep the server's "TLS handshake error" lines out of the test output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("test server at %s, want https://127.0.0.1", srv.URL)
	}
	return srv
}

// TestSmoke proves Chromium, playwright-core and auth0.js work end to end.
func TestSmoke(t *testing.T) {
	srv := smokeServer(t)
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(srv.URL + "/form"),                                     // 0
		browsertest.FetchFill("#v", srv.URL+"/codes", "0.code"),                 // 1
		browsertest.Click("#go"),                                                // 2
		browsertest.WaitForFunction("window.submitted"),                         // 3
		browsertest.Text("#out"),                                                // 4
		browsertest.Eval("document.getElementById('v').value"),                  // 5
		browsertest.Fetch(srv.URL + "/codes"),                                   // 6
		browsertest.Fill("#v", "654321"),                                        // 7
		browsertest.Press("#v", "Enter"),                                        // 8
		browsertest.WaitForFunction("window.submitted === '654321'"),            // 9
		browsertest.Click("#next"),                                              // 10
		browsertest.WaitForURL(`/\/auth0#frag$/`),                               // 11
		browsertest.WaitForFunction("window.ok !== undefined"),                  // 12
		browsertest.Eval("window.ok"),                                           // 13
		browsertest.Eval("typeof window.webAuth.passwordlessLogin"),             // 14
		browsertest.Eval("new Promise((r) => setTimeout(() => r(41 + 1), 10))"), // 15
		browsertest.Cookies(),                                                   // 16
	}})

	if got := len(res.Results); got != 17 {
		t.Fatalf("%d results, want 17", got)
	}
	var goto0 struct{ Status int }
	if err := res.Decode(0, &goto0); err != nil || goto0.Status != 200 {
		t.Errorf("goto result %s (%v), want status 200", res.Results[0], err)
	}
	for i, want := range map[int]string{
		1: "123456", 3: "123456", 4: "got 123456", 5: "123456", 9: "true",
		11: srv.URL + "/auth0#frag", 13: "true", 14: "function", 15: "42",
	} {
		if got := res.String(i); got != want {
			t.Errorf("step %d: got %s, want %s", i, got, want)
		}
	}
	var codes []struct{ Code string }
	if err := res.Decode(6, &codes); err != nil || len(codes) != 1 || codes[0].Code != "123456" {
		t.Errorf("fetch result %s (%v), want [{code:123456}]", res.Results[6], err)
	}
	var cookies []struct {
		Name, Value string
		HTTPOnly    bool `json:"httpOnly"`
	}
	if err := res.Decode(16, &cookies); err != nil || len(cookies) != 1 ||
		cookies[0].Name != "smoke" || cookies[0].Value != "1" || !cookies[0].HTTPOnly {
		t.Errorf("cookies %s (%v), want smoke=1 HttpOnly", res.Results[16], err)
	}
	if res.URL != srv.URL+"/auth0#frag" {
		t.Errorf("final URL %s", res.URL)
	}
	if !contains(res.Console, "log: submitted 123456") || !contains(res.Console, "log: submitted 654321") {
		t.Errorf("console %q lacks the page's console.log lines", res.Console)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// recorder is a testing.TB whose Fatal/Skip record the message and end the goroutine.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	msg     string
	skipped bool
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	r.Fatalf("%s", fmt.Sprint(args...))
}

func (r *recorder) Logf(string, ...any) {}

// TestFailureReport checks that a failing step reports its index, error, URL, console and HTML.
func TestFailureReport(t *testing.T) {
	srv := smokeServer(t)
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		browsertest.Run(rec, browsertest.Program{Timeout: 5 * time.Second, Steps: []browsertest.Step{
			browsertest.Goto(srv.URL + "/form"),
			browsertest.Eval("console.log('before'), 1"),
			browsertest.Eval("missingFunction()"),
		}})
		rec.mu.Lock()
		rec.msg = "Run returned"
		rec.mu.Unlock()
	}()
	<-done
	if rec.skipped {
		t.Skip(rec.msg)
	}
	t.Logf("the report:\n%s", rec.msg)
	for _, want := range []string{
		"step 2", "missingFunction is not defined", "url: " + srv.URL + "/form",
		"log: before", `<input id="v" name="v">`,
	} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("failure report lacks %q:\n%s", want, rec.msg)
		}
	}
}
