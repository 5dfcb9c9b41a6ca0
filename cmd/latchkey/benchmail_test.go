package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBenchSMTP: bench --smtp-listen against a real `latchkey serve`
// delivering by SMTP to the driver's own server: every login reads its
// code from the mail, the stages are timed, and the server's CPU per login
// comes from its ops listener.
func TestBenchSMTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tf := "../../scripts/bench-tenant.json" // scripts/bench-smtp's: limits raised, the user IP header trusted
	mail, addr, ops := freeAddr(t), freeAddr(t), freeAddr(t)
	startProcess(t, []string{"serve", "--addr", addr, "--ops-addr", ops, "--data-dir", filepath.Join(dir, "data"), "--bootstrap", tf,
		"--smtp-url", "smtp://" + mail + "?from=login%40latchkey.test", "--log-level", "warn"}, "http://"+addr+"/")
	var out bytes.Buffer
	code := run(t.Context(), []string{"bench", "--server", "http://" + addr + "/", "--client-id", "bench", "--client-secret",
		"bench-secret-0123456789abcdefghij", "--smtp-listen", mail, "--ops", "http://" + ops + "/", "-n", "30", "--concurrency", "4", "--procs", "0", "--json"}, &out, &out)
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); code != exitOK || err != nil {
		t.Fatalf("bench exit %d: %s", code, out.String())
	}
	if res.Logins != 30 || len(res.Failures) != 0 || !strings.HasPrefix(res.Delivery, "SMTP") || res.CPUPerLoginMS <= 0 {
		t.Fatalf("bench: %s", out.String())
	}
	// Code arrival is counted from the start's answer: the mail may come
	// first (the node sends it as soon as the code is committed), but never
	// before the start was sent, so it is bounded below by the slowest start.
	var slowestStart float64
	for _, s := range res.Stages {
		if s.Stage == "start" {
			slowestStart = s.Max
		}
	}
	for _, s := range res.Stages {
		low := s.P50 <= 0
		if s.Stage == "code_arrival" {
			low = s.P50 < -slowestStart || s.Max == 0
		}
		if low || s.P99 < s.P50 || s.Max < s.P99 {
			t.Errorf("stage %+v", s)
		}
	}

	// --users: five users signed up first, then logged in again in turn.
	out.Reset()
	code = run(t.Context(), []string{"bench", "--server", "http://" + addr + "/", "--client-id", "bench", "--client-secret",
		"bench-secret-0123456789abcdefghij", "--smtp-listen", mail, "-n", "20", "--concurrency", "4", "--users", "5", "--procs", "0", "--json"}, &out, &out)
	res = benchResult{}
	if err := json.Unmarshal(out.Bytes(), &res); code != exitOK || err != nil || res.Logins != 20 || res.Users != 5 || len(res.Failures) != 0 {
		t.Fatalf("bench --users: exit %d: %s", code, out.String())
	}
	// The store holds the 30 users of the first run and the 5 of this one:
	// its 20 logins signed nobody else up.
	mk := filepath.Join(dir, "master.key")
	if err := os.WriteFile(mk, []byte(hex.EncodeToString([]byte("crash-test-master-key-0123456789"))), 0o600); err != nil {
		t.Fatal(err)
	}
	users := cliJSON[struct {
		Total int `json:"total"`
	}](t, "users", "list", "--data-dir", filepath.Join(dir, "data"), "--master-key-file", mk)
	if users.Total != 35 {
		t.Errorf("%d users after 30 sign-ups and 20 logins of 5 users, want 35", users.Total)
	}
	out.Reset()
	if code := run(t.Context(), []string{"bench", "--server", "http://" + addr + "/", "--client-id", "bench",
		"--concurrency", "4", "--users", "3"}, &out, &out); code != exitUsage {
		t.Errorf("--users below --concurrency: exit %d, %s", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"bench", "--server", "http://" + addr + "/", "--client-id", "bench", "--procs", "-1"}, &out, &out); code != exitUsage {
		t.Errorf("--procs -1: exit %d, %s", code, out.String())
	}
}

// TestOwnUser: with --users, the workers' users are disjoint, every user
// is someone's, and each worker cycles through its own.
func TestOwnUser(t *testing.T) {
	for _, tt := range []struct{ users, concurrency int }{{8, 8}, {9, 8}, {1000, 8}, {5, 4}, {7, 1}, {33, 32}} {
		owner := map[int64]int{}
		for w := range tt.concurrency {
			mine := map[int64]bool{}
			for k := range int64(3 * tt.users) {
				u := ownUser(tt.users, tt.concurrency, w, k)
				if u < 0 || u >= int64(tt.users) {
					t.Fatalf("%+v: worker %d login %d: user %d out of range", tt, w, k, u)
				}
				if o, ok := owner[u]; ok && o != w {
					t.Fatalf("%+v: user %d is worker %d's and %d's", tt, u, o, w)
				}
				owner[u], mine[u] = w, true
			}
			if want := (tt.users - w + tt.concurrency - 1) / tt.concurrency; len(mine) != want {
				t.Errorf("%+v: worker %d has %d users, want %d", tt, w, len(mine), want)
			}
		}
		if len(owner) != tt.users {
			t.Errorf("%+v: %d users reached", tt, len(owner))
		}
	}
}

const benchMessage = "From: Latchkey <login@latchkey.test>\r\nTo: a@example.com\r\nSubject: Welcome\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n\r\nYour verification code for Web is: 12345=\r\n6\r\n\r\nIt expires in 5 minutes.\r\n" +
	"--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+Nzc3Nzc3PC9iPg==\r\n--b1--\r\n"

func TestMessageCode(t *testing.T) {
	re := regexp.MustCompile(defaultCodePattern)
	for _, tt := range []struct{ name, msg, want string }{
		{"multipart, quoted-printable text", benchMessage, "123456"},
		{"plain", "Subject: x\r\n\r\nYour code is 424242.\r\n", "424242"},
		{"base64 html only", "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+Q29kZTogOTg3NjU0PC9wPg==\r\n", "987654"},
		{"no code", "Subject: x\r\n\r\nHello 2026.\r\n", ""},
	} {
		got, err := messageCode([]byte(tt.msg), re)
		if got != tt.want || (tt.want != "" && err != nil) || (tt.want == "" && err == nil) {
			t.Errorf("%s: %q, %v", tt.name, got, err)
		}
	}
}

// FuzzMessageCode: any message the driver's SMTP server accepts is read
// without a panic, and a code found is digits only.
func FuzzMessageCode(f *testing.F) {
	f.Add([]byte(benchMessage))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\n\r\ncode 1234\r\n--y--\r\n--x--\r\n"))
	re := regexp.MustCompile(defaultCodePattern)
	f.Fuzz(func(t *testing.T, raw []byte) {
		code, err := messageCode(raw, re)
		if err == nil && strings.Trim(code, "0123456789") != "" {
			t.Fatalf("code %q", code)
		}
	})
}
