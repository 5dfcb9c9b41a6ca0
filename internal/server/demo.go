package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

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

// seedDemo makes sure the demo application exists, with the email and sms
// connections enabled for it.
func seedDemo(ctx context.Context, st store.Store, keys *secret.Keys, dataDir string, now func() time.Time) (*DemoClient, error) {
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
		Callbacks:  []string{"http://localhost:3000/callback", "http://127.0.0.1:3000/callback"},
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
