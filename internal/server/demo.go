package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/loginpage"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// DemoClient is the application --dev seeds; its secret is kept in the data
// directory (dev only) so it can be printed at every start.
type DemoClient struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

const demoFile = "dev-demo-client.json"

// demoCallbacks are the demo application's callback URLs for issuer:
// <issuer>callback (served by --dev, see demoCallback), and its twin on the
// other loopback name when the issuer's host is localhost or 127.0.0.1
// (they are different origins to a browser, and people type either).
func demoCallbacks(issuer string) []string {
	cb := issuer + "callback"
	u, err := url.Parse(cb)
	if err != nil {
		return []string{cb}
	}
	var twin string
	switch h := u.Hostname(); {
	case strings.EqualFold(h, "localhost"):
		twin = "127.0.0.1"
	case h == "127.0.0.1":
		twin = "localhost"
	default:
		return []string{cb}
	}
	if p := u.Port(); p != "" {
		twin = net.JoinHostPort(twin, p)
	}
	u.Host = twin
	return []string{cb, u.String()}
}

// seedDemo makes sure the demo application exists, with the email and sms
// connections enabled for it and the callbacks of issuer (see
// demoCallbacks) among its callbacks and allowed logout URLs. An existing
// demo application keeps the URLs it has (an operator may have added some):
// the current ones are added.
func seedDemo(ctx context.Context, st store.Store, keys *secret.Keys, dataDir, issuer string, now func() time.Time) (*DemoClient, error) {
	path := filepath.Join(dataDir, demoFile)
	var demo DemoClient
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &demo); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	t := now().UTC().Truncate(time.Millisecond)
	if demo.ClientID != "" {
		c, err := st.GetClient(ctx, demo.ClientID)
		if err == nil && secret.Equal(c.SecretHash, tenant.HashClientSecret(keys, c.ClientID, demo.ClientSecret)) {
			if err := ensureDemoURLs(ctx, st, c, demoCallbacks(issuer), t); err != nil {
				return nil, err
			}
			return &demo, ensureConnections(ctx, st, demo.ClientID, t)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	demo = DemoClient{ClientID: tenant.NewClientID(), ClientSecret: tenant.NewClientSecret()}
	c, _, err := tenant.BuildClient(keys, tenant.ClientSpec{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret,
		Name: "Latchkey Demo", AppType: tenant.AppRegularWeb,
		GrantTypes: []string{tenant.GrantPasswordlessOTP, tenant.GrantAuthorizationCode, tenant.GrantRefreshToken},
		Callbacks:  demoCallbacks(issuer), AllowedLogoutURLs: demoCallbacks(issuer),
		// A backend with a secret: it may pass its users' IPs (the load
		// driver does, so that per-IP limits see many users).
		IsTokenEndpointIPHeaderTrusted: true}, nil)
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = t, t
	if err := st.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("create demo client: %w", err)
	}
	b, _ := json.MarshalIndent(demo, "", "  ")
	// With PostgreSQL nothing else has created the data directory yet.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &demo, ensureConnections(ctx, st, demo.ClientID, t)
}

// ensureDemoURLs adds the URLs missing from the demo application c's
// callbacks and allowed logout URLs, removing none.
func ensureDemoURLs(ctx context.Context, st store.Store, c store.Client, urls []string, t time.Time) error {
	if _, changed := addMissing(c.Callbacks, urls); !changed {
		if _, changed := addMissing(c.AllowedLogoutURLs, urls); !changed {
			return nil
		}
	}
	_, err := st.ModifyClient(ctx, c.ClientID, func(c *store.Client) error {
		c.Callbacks, _ = addMissing(c.Callbacks, urls)
		c.AllowedLogoutURLs, _ = addMissing(c.AllowedLogoutURLs, urls)
		c.UpdatedAt = t
		return nil
	})
	if err != nil {
		return fmt.Errorf("add the demo application's callbacks: %w", err)
	}
	return nil
}

// addMissing returns list with the elements of add it lacks appended, and
// whether there were any.
func addMissing(list, add []string) ([]string, bool) {
	out := slices.Clone(list)
	for _, u := range add {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, len(out) != len(list)
}

func ensureConnections(ctx context.Context, st store.Store, clientID string, t time.Time) error {
	for _, strategy := range []string{"email", "sms"} {
		c, err := st.GetConnectionByName(ctx, strategy)
		if errors.Is(err, store.ErrNotFound) {
			c, err = tenant.BuildConnection(tenant.ConnectionSpec{Strategy: strategy, EnabledClients: []string{clientID},
				Options: tenant.ConnectionOptions{ConnectionOptions: store.ConnectionOptions{BruteForceProtection: true}}})
			if err != nil {
				return err
			}
			c.ID, c.CreatedAt, c.UpdatedAt = tenant.NewConnectionID(), t, t
			if err := st.CreateConnection(ctx, c); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("create %s connection: %w", strategy, err)
			}
			continue
		}
		if err != nil {
			return err
		}
		if !slices.Contains(c.EnabledClients, clientID) {
			c.EnabledClients = append(c.EnabledClients, clientID)
			c.UpdatedAt = t
			if err := st.UpdateConnection(ctx, c); err != nil {
				return fmt.Errorf("enable %s connection: %w", strategy, err)
			}
		}
	}
	return nil
}

// Lengths to which the callback page clips what it received.
const (
	maxShownCode  = 512
	maxShownError = 512
)

// demoCallback is GET /callback in --dev: the demo application's callback
// page, where the README's /authorize walkthrough lands. It shows what
// /authorize sent back (the code and state, or the error) and a curl that
// exchanges the code at /oauth/token; it never exchanges the code itself.
func demoCallback(issuer, clientID string) http.Handler {
	callbacks := demoCallbacks(issuer)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p := loginpage.Callback{Lang: r.Header.Get("Accept-Language"), Nonce: secret.Token(12),
			Code: loginpage.Clip(q.Get("code"), maxShownCode), State: loginpage.Clip(q.Get("state"), maxShownCode),
			Error: loginpage.Clip(q.Get("error"), maxShownError), ErrorDescription: loginpage.Clip(q.Get("error_description"), maxShownError)}
		if p.Code != "" && p.Error == "" && p.Code == q.Get("code") {
			// The redirect_uri of the exchange is the callback this request
			// came to: the issuer's, or its loopback twin.
			redirectURI := callbacks[0]
			for _, cb := range callbacks {
				if u, err := url.Parse(cb); err == nil && strings.EqualFold(u.Host, r.Host) {
					redirectURI = cb
				}
			}
			p.Curl = "curl -s " + loginpage.ShellQuote(issuer+"oauth/token") + " -d grant_type=authorization_code \\\n" +
				"  -d client_id=" + loginpage.ShellQuote(clientID) + " -d client_secret=SECRET \\\n" +
				"  --data-urlencode code=" + loginpage.ShellQuote(p.Code) + " --data-urlencode redirect_uri=" + loginpage.ShellQuote(redirectURI)
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer") // the code is in this page's URL
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// As the hosted login page's, without any script.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+p.Nonce+"'; img-src 'self' data:; "+
			"form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
		if err := loginpage.RenderCallback(w, p); err != nil {
			http.Error(w, "the callback page could not be rendered", http.StatusInternalServerError)
		}
	})
}
