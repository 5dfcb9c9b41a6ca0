package mgmtapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

type nopCache struct{}

func (nopCache) Invalidate() {}

// usersAPI is the Management API over a fresh SQLite store holding an email
// and an sms connection.
func usersAPI(t testing.TB) (*API, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, c := range []store.Connection{{ID: "con_1", Name: "email", Strategy: "email"}, {ID: "con_2", Name: "sms", Strategy: "sms"}} {
		if err := st.CreateConnection(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := secret.New(bytes.Repeat([]byte{7}, secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &API{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: st, Cache: nopCache{}, Keys: fakeVerifier{}, Seal: keys,
		Issuer: "https://login.example.com/", Now: func() time.Time { return now }}, st
}

type apiResponse struct {
	status int
	raw    string
	body   map[string]any
}

func call(t testing.TB, h http.Handler, method, path, scope, body string) apiResponse {
	t.Helper()
	const iss = "https://login.example.com/"
	claims, _ := json.Marshal(map[string]any{"iss": iss, "aud": iss + "api/v2/", "exp": time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), "scope": scope})
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Authorization", "Bearer "+string(claims))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := apiResponse{status: w.Code, raw: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &res.body)
	return res
}

const allUserScopes = "read:users create:users update:users delete:users"

func TestUsersCreateAndRead(t *testing.T) {
	a, _ := usersAPI(t)
	h := a.Handler()
	emailID := passwordless.UserID(a.Seal, store.Connection{Name: "email", Strategy: "email"}, "ann@example.com")

	r := call(t, h, "POST", "/api/v2/users", allUserScopes, `{"connection":"email","email":"Ann@Example.com","email_verified":true}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	want := map[string]any{
		"user_id": emailID, "email": "ann@example.com", "email_verified": true, "name": "ann@example.com", "nickname": "ann",
		"identities": []any{map[string]any{"connection": "email", "user_id": strings.TrimPrefix(emailID, "email|"), "provider": "email", "isSocial": false}},
		"created_at": "2026-01-02T03:04:05.000Z", "updated_at": "2026-01-02T03:04:05.000Z", "blocked": false,
	}
	if d := cmp.Diff(want, r.body); d != "" {
		t.Errorf("created user (-want +got):\n%s", d)
	}
	r = call(t, h, "POST", "/api/v2/users", allUserScopes, `{"connection":"sms","phone_number":"+15550001111","blocked":true,"user_id":"abc123"}`)
	if r.status != 201 || r.body["user_id"] != "sms|abc123" || r.body["phone_verified"] != false || r.body["blocked"] != true || r.body["email"] != nil {
		t.Fatalf("create sms: %d %s", r.status, r.raw)
	}

	tests := []struct {
		name, method, path, scope, body string
		status                          int
		code                            string
	}{
		{"get", "GET", "/api/v2/users/" + emailID, "read:users", "", 200, ""},
		{"get escaped", "GET", "/api/v2/users/" + strings.ReplaceAll(emailID, "|", "%7C"), "read:users", "", 200, ""},
		{"get unknown", "GET", "/api/v2/users/email|000000000000000000000000", "read:users", "", 404, "inexistent_user"},
		{"get malformed id", "GET", "/api/v2/users/nobar", "read:users", "", 400, "invalid_uri"},
		{"get without scope", "GET", "/api/v2/users/" + emailID, "read:clients", "", 403, "insufficient_scope"},
		{"create without scope", "POST", "/api/v2/users", "read:users", `{"connection":"email","email":"x@example.com"}`, 403, "insufficient_scope"},
		{"exists (case-insensitive)", "POST", "/api/v2/users", "create:users", `{"connection":"email","email":"ANN@example.com"}`, 409, "auth0_idp_error"},
		{"user_id taken", "POST", "/api/v2/users", "create:users", `{"connection":"sms","phone_number":"+15550002222","user_id":"abc123"}`, 409, "auth0_idp_error"},
		{"no connection", "POST", "/api/v2/users", "create:users", `{"email":"x@example.com"}`, 400, "invalid_body"},
		{"unknown connection", "POST", "/api/v2/users", "create:users", `{"connection":"db","email":"x@example.com"}`, 400, "inexistent_connection"},
		{"no email", "POST", "/api/v2/users", "create:users", `{"connection":"email"}`, 400, "invalid_body"},
		{"bad email", "POST", "/api/v2/users", "create:users", `{"connection":"email","email":"not an email"}`, 400, "invalid_body"},
		{"phone on email", "POST", "/api/v2/users", "create:users", `{"connection":"email","email":"x@example.com","phone_number":"+1555"}`, 400, "invalid_body"},
		{"bad phone", "POST", "/api/v2/users", "create:users", `{"connection":"sms","phone_number":"5550001111"}`, 400, "invalid_body"},
		{"email on sms", "POST", "/api/v2/users", "create:users", `{"connection":"sms","phone_number":"+15550003333","email":"x@example.com"}`, 400, "invalid_body"},
		{"unsupported field", "POST", "/api/v2/users", "create:users", `{"connection":"email","email":"x@example.com","password":"hunter2"}`, 400, "invalid_body"},
		{"wrong type", "POST", "/api/v2/users", "create:users", `{"connection":"email","email":"x@example.com","blocked":"yes"}`, 400, "invalid_body"},
		{"verify_email", "POST", "/api/v2/users", "create:users", `{"connection":"email","email":"x@example.com","verify_email":true}`, 400, "invalid_body"},
		{"bad user_id", "POST", "/api/v2/users", "create:users", `{"connection":"email","email":"x@example.com","user_id":"a|b"}`, 400, "invalid_body"},
		{"not an object", "POST", "/api/v2/users", "create:users", `["x"]`, 400, "invalid_body"},
		{"by email", "GET", "/api/v2/users-by-email?email=ANN%40example.com", "read:users", "", 200, ""},
		{"by email missing", "GET", "/api/v2/users-by-email", "read:users", "", 400, "invalid_query_string"},
		{"by email malformed", "GET", "/api/v2/users-by-email?email=nope", "read:users", "", 400, "invalid_query_string"},
		{"unsupported q", "GET", "/api/v2/users?q=name:ann", "read:users", "", 400, "invalid_query_string"},
		{"bad per_page", "GET", "/api/v2/users?per_page=500", "read:users", "", 400, "invalid_query_string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, tt.method, tt.path, tt.scope, tt.body)
			if r.status != tt.status || (tt.code != "" && r.body["errorCode"] != tt.code) {
				t.Fatalf("got %d %s; want %d %s", r.status, r.raw, tt.status, tt.code)
			}
			if tt.status >= 400 && (r.body["statusCode"] != float64(tt.status) || r.body["error"] == "" || r.body["message"] == "") {
				t.Errorf("error body %s", r.raw)
			}
		})
	}
	if r := call(t, h, "GET", "/api/v2/users-by-email?email=ann%40example.com", "read:users", ""); !strings.HasPrefix(r.raw, `[{"user_id":"`+emailID) {
		t.Errorf("users-by-email: %s", r.raw)
	}
}

func TestUsersListAndQuery(t *testing.T) {
	a, st := usersAPI(t)
	h := a.Handler()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i, e := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		u := store.User{UserID: "email|" + strings.Repeat(string(rune('a'+i)), 24), Connection: "email", Identifier: e, Email: e,
			CreatedAt: base.Add(time.Duration(i) * time.Minute), UpdatedAt: base}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.UserID)
	}
	listIDs := func(v any) []string {
		var out []string
		list, _ := v.([]any)
		for _, x := range list {
			out = append(out, x.(map[string]any)["user_id"].(string))
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
		shape map[string]float64 // start, limit, length, total with include_totals
	}{
		{"", ids, nil},
		{"per_page=2&page=1", ids[2:4], nil},
		{"per_page=2&page=2&include_totals=true", ids[4:], map[string]float64{"start": 4, "limit": 2, "length": 1, "total": 5}},
		{"per_page=2&page=9&include_totals=true", nil, map[string]float64{"start": 18, "limit": 2, "length": 0, "total": 5}},
		{"per_page=0&include_totals=true", nil, map[string]float64{"start": 0, "limit": 0, "length": 0, "total": 5}},
		{`q=email:"C@example.com"&search_engine=v3`, ids[2:3], nil},
		{`q=email:c@example.com&include_totals=true`, ids[2:3], map[string]float64{"start": 0, "limit": 50, "length": 1, "total": 1}},
		{`q=user_id:"` + ids[1] + `"`, ids[1:2], nil},
		{`q=phone_number:"+15550000000"`, nil, nil},
		{`q=email:"nobody@example.com"&include_totals=true`, nil, map[string]float64{"start": 0, "limit": 50, "length": 0, "total": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			path := "/api/v2/users?" + strings.ReplaceAll(strings.ReplaceAll(tt.query, `"`, "%22"), "+", "%2B")
			r := call(t, h, "GET", path, "read:users", "")
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if tt.shape == nil {
				var list []any
				if err := json.Unmarshal([]byte(r.raw), &list); err != nil {
					t.Fatalf("not an array: %s", r.raw)
				}
				if d := cmp.Diff(tt.want, listIDs(list)); d != "" {
					t.Errorf("ids (-want +got):\n%s", d)
				}
				return
			}
			if d := cmp.Diff(tt.want, listIDs(r.body["users"])); d != "" {
				t.Errorf("ids (-want +got):\n%s", d)
			}
			for k, v := range tt.shape {
				if r.body[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, r.body[k], v, r.raw)
				}
			}
		})
	}
}

func TestUsersPatchAndDelete(t *testing.T) {
	a, st := usersAPI(t)
	h := a.Handler()
	r := call(t, h, "POST", "/api/v2/users", allUserScopes, `{"connection":"sms","phone_number":"+15550001111"}`)
	id, _ := r.body["user_id"].(string)
	if r.status != 201 || !strings.HasPrefix(id, "sms|") {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	tests := []struct {
		name, scope, body string
		status            int
		blocked, verified any
	}{
		{"block", "update:users", `{"blocked":true}`, 200, true, false},
		{"verify", "update:users", `{"phone_verified":true,"connection":"sms"}`, 200, true, true},
		{"unblock", "update:users", `{"blocked":false}`, 200, false, true},
		{"empty", "update:users", `{}`, 400, nil, nil},
		{"unknown field", "update:users", `{"phone_number":"+15550002222"}`, 400, nil, nil},
		{"email flag on sms user", "update:users", `{"email_verified":true}`, 400, nil, nil},
		{"other connection", "update:users", `{"connection":"email","blocked":true}`, 400, nil, nil},
		{"wrong type", "update:users", `{"blocked":1}`, 400, nil, nil},
		{"no scope", "read:users", `{"blocked":true}`, 403, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, "PATCH", "/api/v2/users/"+id, tt.scope, tt.body)
			if r.status != tt.status {
				t.Fatalf("got %d %s; want %d", r.status, r.raw, tt.status)
			}
			if tt.status == 200 && (r.body["blocked"] != tt.blocked || r.body["phone_verified"] != tt.verified) {
				t.Errorf("patched user %s", r.raw)
			}
		})
	}
	u, err := st.GetUser(t.Context(), id)
	if err != nil || u.Blocked || !u.PhoneVerified {
		t.Fatalf("stored user %+v, %v", u, err)
	}
	if r := call(t, h, "PATCH", "/api/v2/users/sms|nobody", "update:users", `{"blocked":true}`); r.status != 404 || r.body["errorCode"] != "inexistent_user" {
		t.Errorf("patch unknown: %d %s", r.status, r.raw)
	}

	if r := call(t, h, "DELETE", "/api/v2/users/"+id, "read:users update:users", ""); r.status != 403 {
		t.Errorf("delete without scope: %d %s", r.status, r.raw)
	}
	for range 2 { // idempotent, as in Auth0
		if r := call(t, h, "DELETE", "/api/v2/users/"+id, "delete:users", ""); r.status != 204 || r.raw != "" {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
	}
	if r := call(t, h, "DELETE", "/api/v2/users/malformed", "delete:users", ""); r.status != 400 {
		t.Errorf("delete malformed id: %d %s", r.status, r.raw)
	}
	if r := call(t, h, "GET", "/api/v2/users/"+id, "read:users", ""); r.status != 404 {
		t.Errorf("get deleted: %d %s", r.status, r.raw)
	}
}

func TestParseUserQuery(t *testing.T) {
	tests := []struct {
		q, field, value string
		bad             bool
	}{
		{`email:"a@example.com"`, "email", "a@example.com", false},
		{`  email : a@example.com `, "email", "a@example.com", false},
		{`phone_number:"+15550001111"`, "phone_number", "+15550001111", false},
		{`user_id:"email|0123"`, "user_id", "email|0123", false},
		{`user_id:"a\"b"`, "user_id", `a"b`, false},
		{`email:"a@example.com" OR email:"b@example.com"`, "", "", true},
		{`name:"ann"`, "", "", true},
		{`email:a*`, "", "", true}, // wildcards are not supported
		{`email:`, "", "", true},
		{`ann`, "", "", true},
	}
	for _, tt := range tests {
		f, v, err := parseUserQuery(tt.q)
		if tt.bad != (err != nil) || f != tt.field || v != tt.value {
			t.Errorf("%q: got %q %q %v", tt.q, f, v, err)
		}
	}
}

func FuzzParseUserQuery(f *testing.F) {
	for _, s := range []string{`email:"a@example.com"`, `user_id:"a\"b"`, `phone_number:+1555`, `email:""`, `x:y`, `email:"\`, "email:\"\x00\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		field, _, err := parseUserQuery(q)
		if err == nil && field != "email" && field != "phone_number" && field != "user_id" {
			t.Fatalf("%q parsed as field %q", q, field)
		}
	})
}

// FuzzUserBodies: no create or patch body makes the API fail with a 500.
func FuzzUserBodies(f *testing.F) {
	for _, s := range []string{`{"connection":"email","email":"a@example.com"}`, `{"connection":"sms","phone_number":"+1"}`,
		`{"blocked":true}`, `{"connection":null}`, `{"email":["x"]}`, `{}`, `[]`, `{"connection":"email","email":"a@b.c","user_id":""}`, `nul`} {
		f.Add(s)
	}
	a, _ := usersAPI(f)
	h := a.Handler()
	if r := call(f, h, "POST", "/api/v2/users", allUserScopes, `{"connection":"sms","phone_number":"+15550001111","user_id":"x"}`); r.status != 201 {
		f.Fatalf("create: %d %s", r.status, r.raw)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, rq := range []struct{ method, path string }{{"POST", "/api/v2/users"}, {"PATCH", "/api/v2/users/sms|x"}} {
			if r := call(t, h, rq.method, rq.path, allUserScopes, body); r.status >= 500 {
				t.Fatalf("%s %q: %d %s", rq.method, body, r.status, r.raw)
			}
		}
	})
}
