package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "f00dfeedf00dfeedf00dfeedf00dfeed"
	testMGSID = "MG0123456789abcdef0123456789abcdef"
)

// fakeTwilio stands in for api.twilio.com: it checks the request the way
// Twilio would and answers with status and body.
type fakeTwilio struct {
	t      *testing.T
	status int
	body   string
	delay  time.Duration

	mu   sync.Mutex
	form []url.Values
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
		f.t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
		w.WriteHeader(401)
		io.WriteString(w, `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Error(err)
	}
	f.mu.Lock()
	f.form = append(f.form, r.PostForm)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	io.WriteString(w, f.body)
}

func TestTwilio(t *testing.T) {
	f := &fakeTwilio{t: t, status: 201, body: `{"sid":"SM0123","status":"queued"}`}
	srv := httptest.NewServer(f)
	defer srv.Close()
	tw := NewTwilio(srv.URL+"/", nil)
	m := SMS{To: "+15551234567", Body: "Your code is 123456 ✓", IP: "203.0.113.9", UserAgent: "ua"}

	if err := tw.Send(t.Context(), TwilioConfig{SID: testSID, Token: testToken, From: "+15550001111"}, m); err != nil {
		t.Fatal(err)
	}
	if err := tw.Send(t.Context(), TwilioConfig{SID: testSID, Token: testToken, From: "+15550001111", MessagingServiceSID: testMGSID}, m); err != nil {
		t.Fatal(err)
	}
	want := []url.Values{
		{"To": {m.To}, "Body": {m.Body}, "From": {"+15550001111"}},
		{"To": {m.To}, "Body": {m.Body}, "MessagingServiceSid": {testMGSID}},
	}
	if len(f.form) != 2 {
		t.Fatalf("%d requests", len(f.form))
	}
	for i := range want {
		if got, w := f.form[i].Encode(), want[i].Encode(); got != w {
			t.Errorf("form %d: %s, want %s", i, got, w)
		}
	}
}

func TestTwilioErrors(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		token     string
		temporary bool
		code      string
		text      string
	}{
		{"invalid number", 400, `{"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`,
			testToken, false, "21211", "The 'To' number +1555 is not a valid phone number. (Code: 21211)"},
		{"bad credentials", 201, "", "0000feedf00dfeedf00dfeedf00dbad0", false, "20003", "Authenticate (Code: 20003)"},
		{"rate limited", 429, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`,
			testToken, true, "20429", "Too Many Requests (Code: 20429)"},
		{"unavailable", 503, `{"code":20500,"message":"Service Unavailable","more_info":"https://www.twilio.com/docs/errors/20500","status":503}`,
			testToken, true, "20500", "Service Unavailable (Code: 20500)"},
		{"not JSON", 502, `<html>Bad Gateway</html>`, testToken, true, "", "Unexpected response from Twilio: 502"},
		{"huge body", 500, `{"message":"` + strings.Repeat("x", 200<<10) + `"}`, testToken, true, "", "Unexpected response from Twilio: 500"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeTwilio{t: t, status: c.status, body: c.body})
			defer srv.Close()
			err := NewTwilio(srv.URL, nil).Send(t.Context(), TwilioConfig{SID: testSID, Token: c.token, From: "+15550001111"}, SMS{To: "+1555", Body: "x"})
			se := asSendError(t, err)
			if se.Temporary != c.temporary || se.Code != c.code || err.Error() != c.text || strings.Contains(err.Error(), c.token) {
				t.Errorf("got %+v %q", se, err.Error())
			}
		})
	}
}

func TestTwilioTransportAndConfig(t *testing.T) {
	f := &fakeTwilio{t: t, status: 201, delay: 5 * time.Second}
	srv := httptest.NewServer(f)
	defer srv.Close()
	// The caller's client sets the timeout.
	tw := NewTwilio(srv.URL, &http.Client{Timeout: 200 * time.Millisecond})
	cfg := TwilioConfig{SID: testSID, Token: testToken, From: "+15550001111"}
	if se := asSendError(t, tw.Send(t.Context(), cfg, SMS{To: "+15551234567", Body: "x"})); !se.Temporary || strings.Contains(se.Error(), testToken) {
		t.Errorf("timeout: %+v", se)
	}
	srv.Close()
	if se := asSendError(t, NewTwilio(srv.URL, nil).Send(t.Context(), cfg, SMS{To: "+15551234567", Body: "x"})); !se.Temporary || strings.Contains(se.Error(), srv.URL+"/2010") {
		t.Errorf("closed server: %+v", se)
	}
	for _, bad := range []TwilioConfig{{Token: testToken, From: "+1"}, {SID: testSID, From: "+1"}, {SID: testSID, Token: testToken}} {
		if se := asSendError(t, tw.Send(t.Context(), bad, SMS{To: "+1", Body: "x"})); se.Temporary {
			t.Errorf("%+v: %+v", bad, se)
		}
	}
	if got := NewTwilio("", nil).base; got != DefaultTwilioURL {
		t.Errorf("default base %q", got)
	}
}

// fakeGateway is a custom SMS gateway.
type fakeGateway struct {
	t      *testing.T
	status int
	delay  time.Duration
	key    []byte // when set, the bearer JWT must verify under it

	mu     sync.Mutex
	bodies []string
	claims []map[string]any
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/sms" || r.Header.Get("Content-Type") != "application/json" {
		g.t.Errorf("%s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	b, _ := io.ReadAll(r.Body)
	var claims map[string]any
	if g.key != nil {
		tok, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var ok bool
		if claims, ok = verifyHS256(tok, g.key); !bearer || !ok {
			w.WriteHeader(401)
			return
		}
	} else if r.Header.Get("Authorization") != "" {
		g.t.Errorf("Authorization %q without gateway_authentication", r.Header.Get("Authorization"))
	}
	g.mu.Lock()
	g.bodies = append(g.bodies, string(b))
	g.claims = append(g.claims, claims)
	g.mu.Unlock()
	if g.delay > 0 {
		select {
		case <-time.After(g.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(g.status)
	io.WriteString(w, `{"ignored":true}`)
}

// verifyHS256 checks a compact JWS by hand (go-jose refuses HMAC keys
// shorter than 32 bytes, which Auth0 allows) and returns its claims.
func verifyHS256(tok string, key []byte) (map[string]any, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	var hdr map[string]any
	if h, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(h, &hdr) != nil || hdr["alg"] != "HS256" || hdr["typ"] != "JWT" {
		return nil, false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, false
	}
	var claims map[string]any
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(p, &claims) != nil {
		return nil, false
	}
	return claims, true
}

func TestGateway(t *testing.T) {
	f := &fakeGateway{t: t, status: 200}
	srv := httptest.NewServer(f)
	defer srv.Close()
	g := NewGateway(nil)
	m := SMS{To: "+15551234567", Body: "Your code is 123456 <b>&</b> ✓", IP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11)"}

	if err := g.Send(t.Context(), GatewayConfig{URL: srv.URL + "/sms", Sender: "+15550001111"}, m); err != nil {
		t.Fatal(err)
	}
	if err := g.Send(t.Context(), GatewayConfig{URL: srv.URL + "/sms", Sender: "Acme", ForwardReqInfo: true}, m); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"recipient":"+15551234567","body":"Your code is 123456 <b>&</b> ✓","sender":"+15550001111"}`,
		`{"recipient":"+15551234567","body":"Your code is 123456 <b>&</b> ✓","sender":"Acme","req":{"ip":"203.0.113.9","user-agent":"Mozilla/5.0 (X11)"}}`,
	}
	if len(f.bodies) != 2 {
		t.Fatalf("%d requests", len(f.bodies))
	}
	for i := range want {
		if f.bodies[i] != want[i] {
			t.Errorf("body %d:\n got %s\nwant %s", i, f.bodies[i], want[i])
		}
	}
}

func TestGatewayAuthentication(t *testing.T) {
	now := time.Unix(1_760_000_000, 0)
	long := []byte("0123456789abcdef0123456789abcdef0123456789") // >= 32 bytes: go-jose verifies it too
	cases := []struct {
		name string
		auth GatewayAuth
		key  []byte
	}{
		{"plain short secret", GatewayAuth{Method: "bearer", Subject: "urn:Auth0", Audience: "urn:MySmsGateway", Secret: "shhhh"}, []byte("shhhh")},
		{"plain long secret", GatewayAuth{Method: "bearer", Subject: "urn:Auth0", Audience: "urn:MySmsGateway", Secret: string(long)}, long},
		{"base64url secret", GatewayAuth{Method: "bearer", Subject: "urn:Auth0", Audience: "urn:MySmsGateway",
			Secret: base64.RawURLEncoding.EncodeToString([]byte{0xfb, 0xff, 0x01, 0x02, 0xfe}), SecretBase64: true}, []byte{0xfb, 0xff, 0x01, 0x02, 0xfe}},
		{"base64 std padded secret", GatewayAuth{Method: "bearer", Subject: "urn:Auth0", Audience: "urn:MySmsGateway",
			Secret: base64.StdEncoding.EncodeToString(long[:31]), SecretBase64: true}, long[:31]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeGateway{t: t, status: 200, key: c.key}
			srv := httptest.NewServer(f)
			defer srv.Close()
			g := NewGateway(nil)
			g.now = func() time.Time { return now }
			if err := g.Send(t.Context(), GatewayConfig{URL: srv.URL + "/sms", Sender: "Acme", Auth: &c.auth}, SMS{To: "+15551234567", Body: "x"}); err != nil {
				t.Fatal(err)
			}
			cl := f.claims[0]
			if cl["sub"] != "urn:Auth0" || cl["aud"] != "urn:MySmsGateway" || cl["iat"] != float64(now.Unix()) || cl["exp"] != float64(now.Unix()+60) {
				t.Errorf("claims %v", cl)
			}
		})
	}

	// The long-secret token also verifies with go-jose, as a gateway using it would.
	tok, err := gatewayToken(cases[1].auth, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var cl jwt.Claims
	if err := parsed.Claims(long, &cl); err != nil {
		t.Fatal(err)
	}
	if err := cl.Validate(jwt.Expected{Subject: "urn:Auth0", AnyAudience: jwt.Audience{"urn:MySmsGateway"}, Time: time.Now()}); err != nil {
		t.Error(err)
	}

	// A gateway that expects another secret answers 401.
	f := &fakeGateway{t: t, status: 200, key: []byte("the-right-one")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	err = NewGateway(nil).Send(t.Context(), GatewayConfig{URL: srv.URL + "/sms", Auth: &GatewayAuth{Method: "bearer", Secret: "the-wrong-one"}}, SMS{To: "+1", Body: "x"})
	se := asSendError(t, err)
	if se.Temporary || se.Status != 401 || err.Error() != "Authentication failed while calling the SMS gateway: 401" {
		t.Errorf("%+v", se)
	}
	// Secrets that cannot sign are permanent errors that do not show them.
	for _, a := range []GatewayAuth{{Secret: "not base64!", SecretBase64: true}, {Secret: ""}, {Method: "basic", Secret: "x"}} {
		err := NewGateway(nil).Send(t.Context(), GatewayConfig{URL: srv.URL + "/sms", Auth: &a}, SMS{To: "+1", Body: "x"})
		if se := asSendError(t, err); se.Temporary || (a.Secret != "" && strings.Contains(err.Error(), a.Secret)) {
			t.Errorf("%+v: %+v", a, se)
		}
	}
}

func TestGatewayAnswers(t *testing.T) {
	cases := []struct {
		status    int
		temporary bool
		text      string
	}{
		{201, false, "Unexpected response while calling the SMS gateway: 201"},
		{302, false, "Unexpected response while calling the SMS gateway: 302"},
		{400, false, "Unexpected response while calling the SMS gateway: 400"},
		{401, false, "Authentication failed while calling the SMS gateway: 401"},
		{429, true, "Unexpected response while calling the SMS gateway: 429"},
		{500, true, "Unexpected response while calling the SMS gateway: 500"},
		{503, true, "Unexpected response while calling the SMS gateway: 503"},
	}
	for _, c := range cases {
		srv := httptest.NewServer(&fakeGateway{t: t, status: c.status})
		err := NewGateway(nil).Send(t.Context(), GatewayConfig{URL: srv.URL + "/sms"}, SMS{To: "+1", Body: "x"})
		srv.Close()
		se := asSendError(t, err)
		if se.Temporary != c.temporary || se.Status != c.status || err.Error() != c.text {
			t.Errorf("%d: %+v", c.status, se)
		}
	}

	// Timeouts: the client's, and the context's. Both temporary.
	slow := httptest.NewServer(&fakeGateway{t: t, status: 200, delay: 5 * time.Second, key: []byte("shhhh")})
	defer slow.Close()
	cfg := GatewayConfig{URL: slow.URL + "/sms?key=gw-secret-in-query", Auth: &GatewayAuth{Secret: "shhhh"}}
	err := NewGateway(&http.Client{Timeout: 200 * time.Millisecond}).Send(t.Context(), cfg, SMS{To: "+1", Body: "x"})
	if se := asSendError(t, err); !se.Temporary || se.Error() != "Timeout while calling the SMS gateway" {
		t.Errorf("client timeout: %+v", se)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if se := asSendError(t, NewGateway(nil).Send(ctx, cfg, SMS{To: "+1", Body: "x"})); !se.Temporary {
		t.Errorf("context timeout: %+v", se)
	}
	// Unreachable: temporary, and the URL (which may hold a secret) is not shown.
	slow.Close()
	err = NewGateway(nil).Send(t.Context(), cfg, SMS{To: "+1", Body: "x"})
	if se := asSendError(t, err); !se.Temporary || strings.Contains(err.Error(), "gw-secret-in-query") || strings.Contains(err.Error(), "shhhh") {
		t.Errorf("closed: %+v", se)
	}
	for _, bad := range []string{"", "ftp://x/sms", "://x", "https://"} {
		if se := asSendError(t, NewGateway(nil).Send(t.Context(), GatewayConfig{URL: bad}, SMS{})); se.Temporary {
			t.Errorf("%q: %+v", bad, se)
		}
	}
}
