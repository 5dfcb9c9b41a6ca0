package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// TestProviderCredentialsSealed: the Twilio token and the gateway secret
// are sealed in the database, come back redacted from the Management API,
// survive a PATCH that sends the redacted value back, and still reach the
// provider in plaintext (TestSMSProviders sends through a sealed store); a
// store written before sealing is sealed at start-up.
func TestProviderCredentialsSealed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		raw := e.srv.Store.(*tenant.SealedStore).Store // what the database holds
		token := "twilio-" + strings.Repeat("0123456789", 4)
		gwSecret := "gateway-secret-" + strings.Repeat("x", 20)
		tok := e.mgmtToken("")
		sms, err := e.srv.Store.GetConnectionByName(t.Context(), "sms")
		if err != nil {
			t.Fatal(err)
		}
		opts := map[string]any{"provider": "twilio", "twilio_sid": "AC" + strings.Repeat("0123456789abcdef", 2),
			"twilio_token": token, "from": "+15005550006", "template": "Your code is @@password@@",
			"gateway_authentication": map[string]any{"method": "bearer", "subject": "latchkey", "audience": "https://gw.test", "secret": gwSecret}}
		r := e.mgmt("PATCH", "connections/"+sms.ID, tok, map[string]any{"options": opts})
		if r.status != 200 {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		redacted := func(r response) {
			t.Helper()
			o, _ := r.body["options"].(map[string]any)
			ga, _ := o["gateway_authentication"].(map[string]any)
			if o["twilio_token"] != tenant.Redacted || ga["secret"] != tenant.Redacted || strings.Contains(string(r.raw), token) || strings.Contains(string(r.raw), gwSecret) {
				t.Errorf("credentials shown: %s", r.raw)
			}
		}
		redacted(r)
		redacted(e.mgmt("GET", "connections/"+sms.ID, tok, nil))
		if l := e.mgmt("GET", "connections?strategy=sms", tok, nil); strings.Contains(string(l.raw), token) || !strings.Contains(string(l.raw), tenant.Redacted) {
			t.Errorf("list shows the credentials: %s", l.raw)
		}

		at := func(st interface {
			GetConnectionByName(ctx context.Context, name string) (store.Connection, error)
		}) store.ConnectionOptions {
			t.Helper()
			c, err := st.GetConnectionByName(t.Context(), "sms")
			if err != nil {
				t.Fatal(err)
			}
			return c.Options
		}
		stored := at(raw)
		if !strings.HasPrefix(stored.TwilioToken, "sealed:") || strings.Contains(stored.TwilioToken, token) ||
			!strings.HasPrefix(stored.GatewayAuthentication.Secret, "sealed:") || strings.Contains(stored.GatewayAuthentication.Secret, gwSecret) {
			t.Errorf("stored in plaintext: %q %q", stored.TwilioToken, stored.GatewayAuthentication.Secret)
		}
		if o := at(e.srv.Store); o.TwilioToken != token || o.GatewayAuthentication.Secret != gwSecret {
			t.Errorf("opened: %q %q", o.TwilioToken, o.GatewayAuthentication.Secret)
		}

		// Sending back what a GET showed keeps the stored credentials.
		opts["twilio_token"], opts["from"] = tenant.Redacted, "+15005550007"
		opts["gateway_authentication"].(map[string]any)["secret"] = tenant.Redacted
		if r := e.mgmt("PATCH", "connections/"+sms.ID, tok, map[string]any{"options": opts}); r.status != 200 {
			t.Fatalf("patch with redacted values: %d %s", r.status, r.raw)
		}
		if o := at(e.srv.Store); o.TwilioToken != token || o.GatewayAuthentication.Secret != gwSecret || o.From != "+15005550007" {
			t.Errorf("after a redacted PATCH: %q %q %q", o.TwilioToken, o.GatewayAuthentication.Secret, o.From)
		}

		// A credential that merely looks sealed is sealed like any other.
		lookalike := "sealed:v1:" + strings.Repeat("A", 30)
		opts["twilio_token"] = lookalike
		if r := e.mgmt("PATCH", "connections/"+sms.ID, tok, map[string]any{"options": opts}); r.status != 200 {
			t.Fatalf("patch with a sealed-looking token: %d %s", r.status, r.raw)
		}
		if o := at(e.srv.Store); o.TwilioToken != lookalike {
			t.Errorf("a sealed-looking token reads back as %q", o.TwilioToken)
		}
		if l := e.mgmt("GET", "connections", tok, nil); l.status != 200 {
			t.Errorf("connections list after a sealed-looking token: %d %s", l.status, l.raw)
		}

		// A plaintext credential left by an older version is sealed at start-up.
		c, err := raw.GetConnectionByName(t.Context(), "sms")
		if err != nil {
			t.Fatal(err)
		}
		c.Options.TwilioToken = token
		if err := raw.UpdateConnection(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		e.restart()
		raw = e.srv.Store.(*tenant.SealedStore).Store
		if o := at(raw); !strings.HasPrefix(o.TwilioToken, "sealed:") {
			t.Errorf("not sealed at start-up: %q", o.TwilioToken)
		}
		if o := at(e.srv.Store); o.TwilioToken != token {
			t.Errorf("after sealing at start-up: %q", o.TwilioToken)
		}
	})
}
