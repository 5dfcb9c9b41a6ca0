package mgmtapi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

// fakeProtection is a Protection over maps; it records the calls.
type fakeProtection struct {
	mu      sync.Mutex
	blocks  map[string][]store.Block
	ips     map[string]bool
	calls   []string
	failing bool
}

func (f *fakeProtection) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if f.failing {
		return errors.New("protection store down")
	}
	return nil
}

func (f *fakeProtection) Blocks(_ context.Context, id string) ([]store.Block, error) {
	if err := f.record("Blocks " + id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocks[id], nil
}

func (f *fakeProtection) Unblock(_ context.Context, id string) error {
	if err := f.record("Unblock " + id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.blocks, id)
	return nil
}

func (f *fakeProtection) IPBlocked(_ context.Context, ip string) (bool, error) {
	if err := f.record("IPBlocked " + ip); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ips[ip], nil
}

func (f *fakeProtection) UnblockIP(_ context.Context, ip string) error {
	if err := f.record("UnblockIP " + ip); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ips, ip)
	return nil
}

func (f *fakeProtection) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// recordedEvents is an Events that keeps what it is given.
type recordedEvents struct {
	mu  sync.Mutex
	evs []store.LogEvent
}

func (r *recordedEvents) Record(_ context.Context, ev store.LogEvent) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func TestUserBlocks(t *testing.T) {
	a, _ := usersAPI(t)
	fake := &fakeProtection{
		blocks: map[string][]store.Block{
			"ann@example.com": {{Identifier: "ann@example.com", IP: "192.0.2.1", Connection: "email"}, {Identifier: "ann@example.com", Connection: "email"}},
			"+15550001111":    {{Identifier: "+15550001111", IP: "2001:db8::1", Connection: "sms"}},
		},
		ips: map[string]bool{"192.0.2.9": true},
	}
	a.Protection = fake
	events := &recordedEvents{}
	a.Events = events
	h := a.Handler()
	emailUser := call(t, h, "POST", "/api/v2/users", allUserScopes, `{"connection":"email","email":"Ann@Example.com"}`)
	smsUser := call(t, h, "POST", "/api/v2/users", allUserScopes, `{"connection":"sms","phone_number":"+15550001111"}`)
	emailID, _ := emailUser.body["user_id"].(string)
	smsID, _ := smsUser.body["user_id"].(string)
	if emailID == "" || smsID == "" {
		t.Fatalf("create users: %s %s", emailUser.raw, smsUser.raw)
	}
	annBlocks := `{"blocked_for":[{"identifier":"ann@example.com","ip":"192.0.2.1","connection":"email"},{"identifier":"ann@example.com","connection":"email"}]}`
	tests := []struct {
		name, method, path, scope string
		status                    int
		body                      string // exact, when not an error
		code                      string
		calls                     []string
	}{
		{"by user id", "GET", "/api/v2/user-blocks/" + emailID, "read:users", 200, annBlocks, "", []string{"Blocks ann@example.com"}},
		{"by sms user id", "GET", "/api/v2/user-blocks/" + smsID, "read:users", 200,
			`{"blocked_for":[{"identifier":"+15550001111","ip":"2001:db8::1","connection":"sms"}]}`, "", []string{"Blocks +15550001111"}},
		{"by identifier (normalized)", "GET", "/api/v2/user-blocks?identifier=Ann%40EXAMPLE.com", "read:users", 200, annBlocks, "", []string{"Blocks ann@example.com"}},
		{"by phone identifier", "GET", "/api/v2/user-blocks?identifier=%2B15550002222", "read:users", 200, `{"blocked_for":[]}`, "", []string{"Blocks +15550002222"}},
		{"consider enablement (on)", "GET", "/api/v2/user-blocks/" + emailID + "?consider_brute_force_enablement=true", "read:users", 200, annBlocks, "", []string{"Blocks ann@example.com"}},
		{"bad consider", "GET", "/api/v2/user-blocks/" + emailID + "?consider_brute_force_enablement=yes", "read:users", 400, "", "invalid_query_string", nil},
		{"unknown user", "GET", "/api/v2/user-blocks/email|000000000000000000000000", "read:users", 404, "", "inexistent_user", nil},
		{"malformed user id", "GET", "/api/v2/user-blocks/nobar", "read:users", 400, "", "invalid_uri", nil},
		{"no identifier", "GET", "/api/v2/user-blocks", "read:users", 400, "", "invalid_query_string", nil},
		{"empty identifier", "DELETE", "/api/v2/user-blocks?identifier=", "update:users", 400, "", "invalid_query_string", nil},
		{"get without scope", "GET", "/api/v2/user-blocks/" + emailID, "update:users", 403, "", "insufficient_scope", nil},
		{"delete without scope", "DELETE", "/api/v2/user-blocks/" + emailID, "read:users delete:users", 403, "", "insufficient_scope", nil},
		{"delete by identifier without scope", "DELETE", "/api/v2/user-blocks?identifier=x", "read:users", 403, "", "insufficient_scope", nil},
		{"delete unknown user", "DELETE", "/api/v2/user-blocks/sms|nobody", "update:users", 404, "", "inexistent_user", nil},
		{"delete by user id", "DELETE", "/api/v2/user-blocks/" + emailID, "update:users", 204, "", "", []string{"Unblock ann@example.com"}},
		{"after unblock", "GET", "/api/v2/user-blocks/" + emailID, "read:users", 200, `{"blocked_for":[]}`, "", []string{"Blocks ann@example.com"}},
		{"delete by identifier", "DELETE", "/api/v2/user-blocks?identifier=%2B15550001111", "update:users", 204, "", "", []string{"Unblock +15550001111"}},

		{"ip blocked", "GET", "/api/v2/anomaly/blocks/ips/192.0.2.9", "read:anomaly_blocks", 200, "", "", []string{"IPBlocked 192.0.2.9"}},
		{"ip mapped", "GET", "/api/v2/anomaly/blocks/ips/::ffff:192.0.2.9", "read:anomaly_blocks", 200, "", "", []string{"IPBlocked 192.0.2.9"}},
		{"ip not blocked", "GET", "/api/v2/anomaly/blocks/ips/2001:DB8::0:1", "read:anomaly_blocks", 404, "", "", []string{"IPBlocked 2001:db8::1"}},
		{"ip malformed", "GET", "/api/v2/anomaly/blocks/ips/192.0.2", "read:anomaly_blocks", 400, "", "invalid_uri", nil},
		{"ip with zone", "DELETE", "/api/v2/anomaly/blocks/ips/fe80::1%25eth0", "delete:anomaly_blocks", 400, "", "invalid_uri", nil},
		{"ip without scope", "GET", "/api/v2/anomaly/blocks/ips/192.0.2.9", "delete:anomaly_blocks read:users", 403, "", "insufficient_scope", nil},
		{"ip delete without scope", "DELETE", "/api/v2/anomaly/blocks/ips/192.0.2.9", "read:anomaly_blocks update:users", 403, "", "insufficient_scope", nil},
		{"ip unblock", "DELETE", "/api/v2/anomaly/blocks/ips/192.0.2.9", "delete:anomaly_blocks", 204, "", "", []string{"UnblockIP 192.0.2.9"}},
		{"ip after unblock", "GET", "/api/v2/anomaly/blocks/ips/192.0.2.9", "read:anomaly_blocks", 404, "", "", []string{"IPBlocked 192.0.2.9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, tt.method, tt.path, tt.scope, "")
			if r.status != tt.status {
				t.Fatalf("got %d %s; want %d", r.status, r.raw, tt.status)
			}
			if tt.status < 300 && r.raw != tt.body {
				t.Errorf("body %s; want %s", r.raw, tt.body)
			}
			if tt.status >= 400 && (r.body["statusCode"] != float64(tt.status) || r.body["message"] == "" || r.body["error"] == "" || (r.body["errorCode"] != nil) != (tt.code != "") ||
				(tt.code != "" && r.body["errorCode"] != tt.code)) {
				t.Errorf("error body %s; want errorCode %q", r.raw, tt.code)
			}
			if d := cmp.Diff(tt.calls, fake.takeCalls()); d != "" {
				t.Errorf("Protection calls (-want +got):\n%s", d)
			}
		})
	}
	if r := call(t, h, "GET", "/api/v2/anomaly/blocks/ips/192.0.2.77", "read:anomaly_blocks", ""); r.body["message"] != "IP address specified is not currently blocked." {
		t.Errorf("not blocked: %s", r.raw)
	}
	fake.takeCalls()

	// The writes are audited.
	var described []string
	for _, ev := range events.evs {
		if strings.Contains(ev.Description, "block") {
			described = append(described, ev.Type+" "+ev.Description)
		}
	}
	wantAudit := []string{
		"fapi DELETE /api/v2/user-blocks: Query validation error: 'Missing required property: identifier'",
		"fapi DELETE /api/v2/user-blocks/{id}: The user does not exist.",
		"sapi DELETE /api/v2/user-blocks/{id}",
		"sapi DELETE /api/v2/user-blocks",
		"fapi DELETE /api/v2/anomaly/blocks/ips/{ip}: Path validation error: 'Object didn't pass validation for format ipv4 or ipv6: fe80::1%eth0' on property id (IP address to check).",
		"sapi DELETE /api/v2/anomaly/blocks/ips/{ip}",
	}
	if d := cmp.Diff(wantAudit, described); d != "" {
		t.Errorf("audit events (-want +got):\n%s", d)
	}

	// With brute-force protection off (or not blocking), consider_brute_force_enablement gives an empty list.
	for _, patch := range []string{`{"enabled":false}`, `{"enabled":true,"shields":["user_notification"]}`} {
		if r := call(t, h, "PATCH", bfPath, apWrite, patch); r.status != 200 {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		fake.blocks["ann@example.com"] = []store.Block{{Identifier: "ann@example.com", IP: "192.0.2.1", Connection: "email"}}
		if r := call(t, h, "GET", "/api/v2/user-blocks?identifier=ann@example.com&consider_brute_force_enablement=true", "read:users", ""); r.raw != `{"blocked_for":[]}` {
			t.Errorf("%s: consider enablement: %s", patch, r.raw)
		}
		if calls := fake.takeCalls(); len(calls) != 0 {
			t.Errorf("%s: Protection asked %v", patch, calls)
		}
		if r := call(t, h, "GET", "/api/v2/user-blocks?identifier=ann@example.com", "read:users", ""); !strings.Contains(r.raw, "192.0.2.1") {
			t.Errorf("%s: without consider: %s", patch, r.raw)
		}
		fake.takeCalls()
	}

	// A failing Protection is a 500, not a wrong answer.
	fake.failing = true
	for _, rq := range []struct{ method, path, scope string }{
		{"GET", "/api/v2/user-blocks/" + emailID, "read:users"},
		{"DELETE", "/api/v2/user-blocks?identifier=x", "update:users"},
		{"GET", "/api/v2/anomaly/blocks/ips/192.0.2.1", "read:anomaly_blocks"},
		{"DELETE", "/api/v2/anomaly/blocks/ips/192.0.2.1", "delete:anomaly_blocks"},
	} {
		if r := call(t, h, rq.method, rq.path, rq.scope, ""); r.status != 500 || strings.Contains(r.raw, "protection store down") {
			t.Errorf("%s %s with a failing Protection: %d %s", rq.method, rq.path, r.status, r.raw)
		}
	}
}

func TestBlocksWithoutProtection(t *testing.T) {
	a, _ := usersAPI(t)
	h := a.Handler()
	for _, rq := range []struct{ method, path, scope string }{
		{"GET", "/api/v2/user-blocks/email|000000000000000000000000", "read:users"},
		{"DELETE", "/api/v2/user-blocks/email|000000000000000000000000", "update:users"},
		{"GET", "/api/v2/user-blocks?identifier=a@example.com", "read:users"},
		{"DELETE", "/api/v2/user-blocks?identifier=a@example.com", "update:users"},
		{"GET", "/api/v2/anomaly/blocks/ips/192.0.2.1", "read:anomaly_blocks"},
		{"DELETE", "/api/v2/anomaly/blocks/ips/192.0.2.1", "delete:anomaly_blocks"},
	} {
		r := call(t, h, rq.method, rq.path, rq.scope, "")
		if r.status != 501 || r.body["statusCode"] != 501.0 || r.body["error"] != "Not Implemented" || r.body["errorCode"] != "not_implemented" {
			t.Errorf("%s %s: %d %s", rq.method, rq.path, r.status, r.raw)
		}
		// The scope is checked first.
		if r := call(t, h, rq.method, rq.path, "read:clients", ""); r.status != 403 {
			t.Errorf("%s %s without scope: %d %s", rq.method, rq.path, r.status, r.raw)
		}
	}
}
