package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

func testModifyClient(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := sampleClient("client_m")
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.ModifyClient(ctx, c.ClientID, func(c *store.Client) error {
		c.Name = "Modified"
		c.ClientID = "ignored" // the key cannot change
		c.UpdatedAt = at(time.Hour)
		return nil
	})
	if err != nil || got.Name != "Modified" || got.ClientID != "client_m" {
		t.Fatalf("ModifyClient = %+v, %v", got, err)
	}
	stored, err := s.GetClient(ctx, "client_m")
	if err != nil || stored.Name != "Modified" || !stored.UpdatedAt.Equal(at(time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	refuse := errors.New("refused by f")
	_, err = s.ModifyClient(ctx, "client_m", func(c *store.Client) error { c.Name = "Not kept"; return refuse })
	if err != refuse && !errors.Is(err, refuse) {
		t.Fatalf("f's error came back as %v", err)
	}
	if stored, _ := s.GetClient(ctx, "client_m"); stored.Name != "Modified" {
		t.Fatalf("a refused modification was stored: %q", stored.Name)
	}
	if _, err := s.ModifyClient(ctx, "nobody", func(*store.Client) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
}

// testModifyClientConcurrent: concurrent modifications all land (none
// undoes another), as credential add/delete and secret rotation need.
func testModifyClientConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := sampleClient("client_c")
	c.Credentials = []store.ClientCredential{{ID: "cred_gone", CredentialType: "public_key", KID: "gone", Alg: "RS256", PEM: "x"}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for i := range n {
		wg.Go(func() {
			_, err := s.ModifyClient(ctx, "client_c", func(c *store.Client) error {
				c.Credentials = append(slices.Clone(c.Credentials), store.ClientCredential{ID: fmt.Sprintf("cred_%d", i),
					CredentialType: "public_key", KID: fmt.Sprint(i), Alg: "RS256", PEM: "x"})
				return nil
			})
			errs <- err
		})
	}
	wg.Go(func() {
		_, err := s.ModifyClient(ctx, "client_c", func(c *store.Client) error {
			c.Credentials = slices.DeleteFunc(slices.Clone(c.Credentials), func(x store.ClientCredential) bool { return x.ID == "cred_gone" })
			return nil
		})
		errs <- err
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetClient(ctx, "client_c")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Credentials) != n || slices.ContainsFunc(got.Credentials, func(x store.ClientCredential) bool { return x.ID == "cred_gone" }) {
		t.Fatalf("after %d concurrent adds and one delete: %d credentials %+v", n, len(got.Credentials), got.Credentials)
	}
}
