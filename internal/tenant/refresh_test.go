package tenant_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

func TestBuildRefreshToken(t *testing.T) {
	t.Parallel()
	def := tenant.DefaultRefreshToken()
	tests := []struct {
		name    string
		in      store.ClientRefreshToken
		want    store.ClientRefreshToken
		wantErr string
	}{
		{"empty takes the defaults", store.ClientRefreshToken{}, def, ""},
		{"Auth0's non-rotating default", store.ClientRefreshToken{RotationType: "non-rotating", ExpirationType: "non-expiring",
			TokenLifetime: 31557600, IdleTokenLifetime: 2592000, InfiniteTokenLifetime: true, InfiniteIdleTokenLifetime: true},
			store.ClientRefreshToken{RotationType: "non-rotating", ExpirationType: "non-expiring",
				TokenLifetime: 31557600, IdleTokenLifetime: 2592000, InfiniteTokenLifetime: true, InfiniteIdleTokenLifetime: true}, ""},
		{"leeway kept", store.ClientRefreshToken{RotationType: "rotating", ExpirationType: "expiring", Leeway: 30},
			store.ClientRefreshToken{RotationType: "rotating", ExpirationType: "expiring", Leeway: 30, TokenLifetime: 2592000, IdleTokenLifetime: 1296000}, ""},
		{"idle above absolute, both infinite-free", store.ClientRefreshToken{TokenLifetime: 60, IdleTokenLifetime: 61}, store.ClientRefreshToken{}, "idle_token_lifetime"},
		{"idle above absolute, absolute infinite", store.ClientRefreshToken{TokenLifetime: 60, IdleTokenLifetime: 61, InfiniteTokenLifetime: true},
			store.ClientRefreshToken{RotationType: "rotating", ExpirationType: "expiring", TokenLifetime: 60, IdleTokenLifetime: 61, InfiniteTokenLifetime: true}, ""},
		{"bad rotation", store.ClientRefreshToken{RotationType: "yes"}, store.ClientRefreshToken{}, "rotation_type"},
		{"bad expiration", store.ClientRefreshToken{ExpirationType: "no"}, store.ClientRefreshToken{}, "expiration_type"},
		{"negative leeway", store.ClientRefreshToken{Leeway: -1}, store.ClientRefreshToken{}, "leeway"},
		{"lifetime above five years", store.ClientRefreshToken{TokenLifetime: 157788001}, store.ClientRefreshToken{}, "token_lifetime"},
		{"negative idle", store.ClientRefreshToken{IdleTokenLifetime: -5}, store.ClientRefreshToken{}, "idle_token_lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tenant.BuildRefreshToken(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRefreshExpiries(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := store.ClientRefreshToken{ExpirationType: "expiring", TokenLifetime: 100, IdleTokenLifetime: 10}
	tests := []struct {
		name           string
		p              store.ClientRefreshToken
		absolute, idle time.Time
	}{
		{"expiring", exp, now.Add(100 * time.Second), now.Add(10 * time.Second)},
		{"non-expiring", store.ClientRefreshToken{ExpirationType: "non-expiring", TokenLifetime: 100, IdleTokenLifetime: 10}, time.Time{}, time.Time{}},
		{"infinite absolute", store.ClientRefreshToken{ExpirationType: "expiring", TokenLifetime: 100, IdleTokenLifetime: 10, InfiniteTokenLifetime: true}, time.Time{}, now.Add(10 * time.Second)},
		{"infinite idle", store.ClientRefreshToken{ExpirationType: "expiring", TokenLifetime: 100, IdleTokenLifetime: 10, InfiniteIdleTokenLifetime: true}, now.Add(100 * time.Second), time.Time{}},
	}
	for _, tt := range tests {
		if got := tenant.RefreshExpiry(tt.p, now); !got.Equal(tt.absolute) {
			t.Errorf("%s: absolute %v, want %v", tt.name, got, tt.absolute)
		}
		if got := tenant.RefreshIdleExpiry(tt.p, now); !got.Equal(tt.idle) {
			t.Errorf("%s: idle %v, want %v", tt.name, got, tt.idle)
		}
	}
}

// TestTenantFileRefreshToken: a tenant file written for Auth0, with the
// client's refresh_token object as Auth0 exports it, is accepted and kept;
// applying it again changes nothing; a bad object is refused by field.
func TestTenantFileRefreshToken(t *testing.T) {
	st, keys := open(t)
	doc := `{"clients": [{"client_id": "spa", "name": "SPA", "app_type": "spa", "grant_types": ["authorization_code", "refresh_token"],
	  "callbacks": ["https://spa.example.com/cb"],
	  "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0, "token_lifetime": 2592000,
	    "infinite_token_lifetime": false, "idle_token_lifetime": 1296000, "infinite_idle_token_lifetime": false}}]}`
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := apply(t, st, keys, doc, now); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(t.Context(), "spa")
	if err != nil {
		t.Fatal(err)
	}
	want := store.ClientRefreshToken{RotationType: "rotating", ExpirationType: "expiring", TokenLifetime: 2592000, IdleTokenLifetime: 1296000}
	if c.RefreshToken == nil || *c.RefreshToken != want {
		t.Fatalf("stored refresh_token %+v", c.RefreshToken)
	}
	if res, err := apply(t, st, keys, doc, now.Add(time.Hour)); err != nil || res.Changed != 0 {
		t.Errorf("second apply: %+v %v", res, err)
	}
	bad := strings.Replace(doc, `"leeway": 0`, `"leeway": -3`, 1)
	if _, err := apply(t, st, keys, bad, now); err == nil || !strings.Contains(err.Error(), "refresh_token.leeway") {
		t.Errorf("negative leeway: %v", err)
	}
}
