package mgmtapi

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/latchkey/latchkey/internal/tenant"
)

// countingCache counts invalidations.
type countingCache struct {
	mu sync.Mutex
	n  int
}

func (c *countingCache) Invalidate() { c.mu.Lock(); c.n++; c.mu.Unlock() }

func (c *countingCache) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

const (
	bfPath  = "/api/v2/attack-protection/brute-force-protection"
	sitPath = "/api/v2/attack-protection/suspicious-ip-throttling"
	apRead  = "read:attack_protection"
	apWrite = "update:attack_protection"
)

func TestAttackProtectionDefaults(t *testing.T) {
	a, _ := usersAPI(t)
	h := a.Handler()
	r := call(t, h, "GET", bfPath, apRead, "")
	want := map[string]any{"enabled": true, "shields": []any{"block"}, "allowlist": []any{}, "mode": "count_per_identifier_and_ip", "max_attempts": 10.0}
	if d := cmp.Diff(want, r.body); r.status != 200 || d != "" {
		t.Errorf("brute force defaults: %d (-want +got):\n%s", r.status, d)
	}
	r = call(t, h, "GET", sitPath, apRead, "")
	want = map[string]any{"enabled": true, "shields": []any{"block"}, "allowlist": []any{}, "stage": map[string]any{
		"pre-login":             map[string]any{"max_attempts": 100.0, "rate": 864000.0},
		"pre-user-registration": map[string]any{"max_attempts": 50.0, "rate": 1728000.0}}}
	if d := cmp.Diff(want, r.body); r.status != 200 || d != "" {
		t.Errorf("suspicious IP defaults: %d (-want +got):\n%s", r.status, d)
	}
}

func TestAttackProtectionPatch(t *testing.T) {
	a, st := usersAPI(t)
	cache := &countingCache{}
	a.Cache = cache
	h := a.Handler()

	// An empty patch changes nothing and writes nothing.
	if r := call(t, h, "PATCH", bfPath, apWrite, `{}`); r.status != 200 || r.body["max_attempts"] != 10.0 {
		t.Fatalf("empty patch: %d %s", r.status, r.raw)
	}
	if s, _ := st.GetSettings(t.Context()); s.AttackProtection.BruteForce != nil || cache.count() != 0 {
		t.Fatalf("empty patch wrote %+v (%d invalidations)", s.AttackProtection, cache.count())
	}

	r := call(t, h, "PATCH", bfPath, apWrite, `{"max_attempts":5}`)
	want := map[string]any{"enabled": true, "shields": []any{"block"}, "allowlist": []any{}, "mode": "count_per_identifier_and_ip", "max_attempts": 5.0}
	if d := cmp.Diff(want, r.body); r.status != 200 || d != "" {
		t.Fatalf("patch max_attempts: %d (-want +got):\n%s", r.status, d)
	}
	if cache.count() != 1 {
		t.Errorf("%d invalidations after a write, want 1", cache.count())
	}
	r = call(t, h, "PATCH", bfPath, apWrite, `{"shields":["block","user_notification"],"allowlist":["10.0.0.1","10.0.0.0/8","2001:db8::1","2001:db8::/32"],"mode":"count_per_identifier","enabled":false}`)
	want = map[string]any{"enabled": false, "shields": []any{"block", "user_notification"},
		"allowlist": []any{"10.0.0.1", "10.0.0.0/8", "2001:db8::1", "2001:db8::/32"}, "mode": "count_per_identifier", "max_attempts": 5.0}
	if d := cmp.Diff(want, r.body); r.status != 200 || d != "" {
		t.Fatalf("patch the rest: %d (-want +got):\n%s", r.status, d)
	}
	if got := call(t, h, "GET", bfPath, apRead, ""); cmp.Diff(want, got.body) != "" {
		t.Errorf("GET after PATCH: %s", got.raw)
	}
	s, err := st.GetSettings(t.Context())
	if err != nil || s.AttackProtection.BruteForce == nil || s.AttackProtection.BruteForce.MaxAttempts != 5 || s.AttackProtection.SuspiciousIP != nil {
		t.Fatalf("stored %+v, %v", s.AttackProtection, err)
	}

	// Suspicious IP throttling: stage fields merge one by one.
	r = call(t, h, "PATCH", sitPath, apWrite, `{"stage":{"pre-login":{"rate":100000}},"shields":["admin_notification"],"allowlist":["192.0.2.0/24"]}`)
	wantSIT := map[string]any{"enabled": true, "shields": []any{"admin_notification"}, "allowlist": []any{"192.0.2.0/24"}, "stage": map[string]any{
		"pre-login":             map[string]any{"max_attempts": 100.0, "rate": 100000.0},
		"pre-user-registration": map[string]any{"max_attempts": 50.0, "rate": 1728000.0}}}
	if d := cmp.Diff(wantSIT, r.body); r.status != 200 || d != "" {
		t.Fatalf("patch stage: %d (-want +got):\n%s", r.status, d)
	}
	r = call(t, h, "PATCH", sitPath, apWrite, `{"stage":{"pre-user-registration":{"max_attempts":72000}},"enabled":false,"shields":[]}`)
	wantSIT["enabled"], wantSIT["shields"] = false, []any{}
	wantSIT["stage"].(map[string]any)["pre-user-registration"] = map[string]any{"max_attempts": 72000.0, "rate": 1728000.0}
	if d := cmp.Diff(wantSIT, r.body); r.status != 200 || d != "" {
		t.Fatalf("patch other stage: %d (-want +got):\n%s", r.status, d)
	}
	if got := call(t, h, "GET", sitPath, apRead, ""); cmp.Diff(wantSIT, got.body) != "" {
		t.Errorf("GET after PATCH: %s", got.raw)
	}
	if got := call(t, h, "GET", bfPath, apRead, ""); cmp.Diff(want, got.body) != "" {
		t.Errorf("brute force changed by a suspicious IP patch: %s", got.raw)
	}
	if cache.count() != 4 {
		t.Errorf("%d invalidations, want 4", cache.count())
	}
}

func TestAttackProtectionValidation(t *testing.T) {
	a, st := usersAPI(t)
	h := a.Handler()
	many := make([]string, tenant.MaxAllowlist+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"10.0.%d.%d"`, i/256, i%256)
	}
	tooMany := "[" + strings.Join(many, ",") + "]"
	hundred := "[" + strings.Join(many[:tenant.MaxAllowlist], ",") + "]"
	if r := call(t, h, "PATCH", bfPath, apWrite, `{"allowlist":`+hundred+`}`); r.status != 200 {
		t.Fatalf("%d allowlist entries: %d %s", tenant.MaxAllowlist, r.status, r.raw)
	}
	tests := []struct {
		name, path, body, msg string
	}{
		{"bf unknown field", bfPath, `{"max_attempt":5}`, "'Additional properties not allowed: max_attempt'"},
		{"bf max_attempts 0", bfPath, `{"max_attempts":0}`, "'Value 0 is less than minimum 1' on property max_attempts"},
		{"bf max_attempts 101", bfPath, `{"max_attempts":101}`, "'Value 101 is greater than maximum 100' on property max_attempts"},
		{"bf max_attempts fraction", bfPath, `{"max_attempts":2.5}`, "'Expected type integer but found type number' on property max_attempts"},
		{"bf max_attempts string", bfPath, `{"max_attempts":"5"}`, "'Expected type integer but found type string' on property max_attempts"},
		{"bf max_attempts null", bfPath, `{"max_attempts":null}`, "'Expected type integer but found type null' on property max_attempts"},
		{"bf enabled string", bfPath, `{"enabled":"true"}`, "'Expected type boolean but found type string' on property enabled"},
		{"bf mode", bfPath, `{"mode":"count_per_ip"}`, `'No enum match for: "count_per_ip"' on property mode`},
		{"bf mode number", bfPath, `{"mode":1}`, "'Expected type string but found type integer' on property mode"},
		{"bf shield", bfPath, `{"shields":["admin_notification"]}`, `'No enum match for: "admin_notification"' on property shields[0]`},
		{"bf shields not a list", bfPath, `{"shields":"block"}`, "'Expected type array but found type string' on property shields"},
		{"bf shield not a string", bfPath, `{"shields":[1]}`, "'Expected type string but found type integer' on property shields[0]"},
		{"bf allowlist host name", bfPath, `{"allowlist":["example.com"]}`, "on property allowlist[0]"},
		{"bf allowlist bad cidr", bfPath, `{"allowlist":["10.0.0.1","10.0.0.0/33"]}`, "format ipv4, cidr, ipv6 or ipv6_cidr: 10.0.0.0/33' on property allowlist[1]"},
		{"bf allowlist zone", bfPath, `{"allowlist":["fe80::1%eth0"]}`, "on property allowlist[0]"},
		{"bf allowlist spaces", bfPath, `{"allowlist":[" 10.0.0.1"]}`, "on property allowlist[0]"},
		{"bf allowlist too long", bfPath, `{"allowlist":` + tooMany + `}`, "'Array is too long (101), maximum 100' on property allowlist"},
		{"bf not an object", bfPath, `["x"]`, "the body must be a JSON object"},
		{"sit unknown field", sitPath, `{"mode":"count_per_identifier"}`, "'Additional properties not allowed: mode'"},
		{"sit shield", sitPath, `{"shields":["user_notification"]}`, `'No enum match for: "user_notification"' on property shields[0]`},
		{"sit allowlist", sitPath, `{"allowlist":["1.2.3"]}`, "on property allowlist[0]"},
		{"sit stage not an object", sitPath, `{"stage":[]}`, "'Expected type object but found type array' on property stage"},
		{"sit unknown stage", sitPath, `{"stage":{"pre-signup":{}}}`, "'Additional properties not allowed: pre-signup' on property stage"},
		{"sit unknown stage field", sitPath, `{"stage":{"pre-login":{"burst":5}}}`, "'Additional properties not allowed: burst' on property stage.pre-login"},
		{"sit pre-login max_attempts 0", sitPath, `{"stage":{"pre-login":{"max_attempts":0}}}`, "'Value 0 is less than minimum 1' on property stage.pre-login.max_attempts"},
		{"sit pre-login max_attempts 2501", sitPath, `{"stage":{"pre-login":{"max_attempts":2501}}}`, "'Value 2501 is greater than maximum 2500' on property stage.pre-login.max_attempts"},
		{"sit pre-login rate low", sitPath, `{"stage":{"pre-login":{"rate":34559}}}`, "'Value 34559 is less than minimum 34560' on property stage.pre-login.rate"},
		{"sit pre-login rate high", sitPath, `{"stage":{"pre-login":{"rate":86400001}}}`, "'Value 86400001 is greater than maximum 86400000' on property stage.pre-login.rate"},
		{"sit pre-registration max_attempts", sitPath, `{"stage":{"pre-user-registration":{"max_attempts":72001}}}`, "'Value 72001 is greater than maximum 72000' on property stage.pre-user-registration.max_attempts"},
		{"sit pre-registration rate", sitPath, `{"stage":{"pre-user-registration":{"rate":1199}}}`, "'Value 1199 is less than minimum 1200' on property stage.pre-user-registration.rate"},
		{"sit stage null", sitPath, `{"stage":{"pre-login":null}}`, "'Expected type object but found type null' on property stage.pre-login"},
		// A valid field next to an invalid one changes nothing.
		{"sit partly valid", sitPath, `{"enabled":false,"stage":{"pre-login":{"rate":1}}}`, "on property stage.pre-login.rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, "PATCH", tt.path, apWrite, tt.body)
			msg, _ := r.body["message"].(string)
			if r.status != 400 || r.body["errorCode"] != "invalid_body" || r.body["error"] != "Bad Request" ||
				!strings.HasPrefix(msg, "Payload validation error: ") || !strings.Contains(msg, tt.msg) {
				t.Fatalf("got %d %s; want 400 invalid_body %q", r.status, r.raw, tt.msg)
			}
		})
	}
	s, err := st.GetSettings(t.Context())
	if err != nil || s.AttackProtection.SuspiciousIP != nil || len(s.AttackProtection.BruteForce.Allowlist) != tenant.MaxAllowlist || s.AttackProtection.BruteForce.MaxAttempts != 10 {
		t.Errorf("a refused patch changed the settings: %+v, %v", s.AttackProtection, err)
	}
}

func TestAttackProtectionScopes(t *testing.T) {
	a, _ := usersAPI(t)
	h := a.Handler()
	for _, path := range []string{bfPath, sitPath} {
		if r := call(t, h, "GET", path, "update:attack_protection read:users", ""); r.status != 403 || r.body["errorCode"] != "insufficient_scope" ||
			r.body["message"] != "Insufficient scope, expected any of: read:attack_protection" {
			t.Errorf("GET %s without read:attack_protection: %d %s", path, r.status, r.raw)
		}
		if r := call(t, h, "PATCH", path, "read:attack_protection update:tenant_settings", `{"enabled":false}`); r.status != 403 ||
			r.body["message"] != "Insufficient scope, expected any of: update:attack_protection" {
			t.Errorf("PATCH %s without update:attack_protection: %d %s", path, r.status, r.raw)
		}
		if r := call(t, h, "PATCH", path, "update:attack_protection", `{"enabled":false}`); r.status != 200 || r.body["enabled"] != false {
			t.Errorf("PATCH %s with update:attack_protection only: %d %s", path, r.status, r.raw)
		}
	}
	scopes := a.Scopes()
	for _, s := range []string{"read:attack_protection", "update:attack_protection", "read:anomaly_blocks", "delete:anomaly_blocks"} {
		if !strings.Contains(" "+strings.Join(scopes, " ")+" ", " "+s+" ") {
			t.Errorf("Scopes() lacks %s: %v", s, scopes)
		}
	}
}

// FuzzAttackProtectionBodies: no PATCH body makes the API fail with a 500,
// and whatever it accepts reads back valid.
func FuzzAttackProtectionBodies(f *testing.F) {
	for _, s := range []string{`{"max_attempts":5}`, `{"allowlist":["10.0.0.0/8"]}`, `{"stage":{"pre-login":{"rate":40000}}}`,
		`{"stage":null}`, `{"shields":[]}`, `{"mode":"count_per_identifier"}`, `{"max_attempts":1e2}`, `{}`, `[]`, `nul`} {
		f.Add(s)
	}
	a, _ := usersAPI(f)
	h := a.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{bfPath, sitPath} {
			if r := call(t, h, "PATCH", path, apWrite, body); r.status >= 500 {
				t.Fatalf("PATCH %s %q: %d %s", path, body, r.status, r.raw)
			}
		}
		if r := call(t, h, "GET", bfPath, apRead, ""); r.body["max_attempts"].(float64) < 1 || r.body["max_attempts"].(float64) > 100 {
			t.Fatalf("%q stored %s", body, r.raw)
		}
	})
}
