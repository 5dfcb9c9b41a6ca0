package tenant

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

type countingReader struct{ clients int }

func (c *countingReader) GetSettings(context.Context) (store.TenantSettings, error) {
	return store.TenantSettings{}, nil
}
func (c *countingReader) GetClient(_ context.Context, id string) (store.Client, error) {
	c.clients++
	if id == "known" {
		return store.Client{ClientID: id}, nil
	}
	return store.Client{}, store.ErrNotFound
}
func (c *countingReader) ListClients(context.Context) ([]store.Client, error) {
	return []store.Client{{ClientID: "known"}}, nil
}
func (c *countingReader) GetConnectionByName(context.Context, string) (store.Connection, error) {
	return store.Connection{}, store.ErrNotFound
}
func (c *countingReader) ListClientGrants(context.Context) ([]store.ClientGrant, error) {
	return []store.ClientGrant{{ID: "cgr_1", ClientID: "known", Audience: "https://api/", Scope: []string{"read:x"}}}, nil
}
func (c *countingReader) GetResourceServerByIdentifier(context.Context, string) (store.ResourceServer, error) {
	return store.ResourceServer{}, store.ErrNotFound
}

func TestDirectoryCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := &countingReader{}
	d := NewDirectory(r, func() time.Time { return now })
	ctx := t.Context()
	for range 3 {
		if _, err := d.Client(ctx, "known"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Client(ctx, "unknown"); err == nil {
			t.Fatal("unknown client found")
		}
	}
	if r.clients != 2 {
		t.Errorf("%d reads for two keys within the TTL", r.clients)
	}
	now = now.Add(CacheTTL)
	d.Client(ctx, "known")
	if r.clients != 3 {
		t.Errorf("entry not refreshed after the TTL (%d reads)", r.clients)
	}
	long := strings.Repeat("x", maxCachedKey+1)
	d.Client(ctx, long)
	d.Client(ctx, long)
	if r.clients != 5 {
		t.Errorf("an over-long key was cached (%d reads)", r.clients)
	}
	d.Invalidate()
	d.Client(ctx, "known")
	if r.clients != 6 {
		t.Errorf("Invalidate kept the entry (%d reads)", r.clients)
	}
}

func TestDirectoryClientGrant(t *testing.T) {
	d := NewDirectory(&countingReader{}, time.Now)
	tests := []struct {
		name, client, aud string
		found             bool
	}{
		{"match", "known", "https://api/", true},
		{"other audience", "known", "https://other/", false},
		{"other client", "unknown", "https://api/", false},
	}
	for _, tt := range tests {
		g, err := d.ClientGrant(t.Context(), tt.client, tt.aud)
		switch {
		case tt.found && (err != nil || g.ID != "cgr_1"):
			t.Errorf("%s: got %+v, %v", tt.name, g, err)
		case !tt.found && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: got %v, want ErrNotFound", tt.name, err)
		}
	}
}
