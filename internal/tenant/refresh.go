package tenant

import (
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Refresh-token settings (the client's refresh_token object).
const (
	RotationRotating       = "rotating"
	RotationNonRotating    = "non-rotating"
	ExpirationExpiring     = "expiring"
	ExpirationNonExpiring  = "non-expiring"
	maxRefreshLifetime     = 157788000 // five years, Auth0's limit
	defaultRefreshLifetime = 2592000   // 30 days
	defaultRefreshIdle     = 1296000   // 15 days
)

// DefaultRefreshToken is the refresh-token setting of an application that
// states none: Auth0's settings for a single-page application with rotation
// on (rotating, 30-day absolute and 15-day idle lifetimes, no leeway), for
// every application type. Auth0 gives other types non-rotating,
// non-expiring tokens; Latchkey keeps reuse detection on unless asked.
func DefaultRefreshToken() store.ClientRefreshToken {
	return store.ClientRefreshToken{RotationType: RotationRotating, ExpirationType: ExpirationExpiring,
		TokenLifetime: defaultRefreshLifetime, IdleTokenLifetime: defaultRefreshIdle}
}

// RefreshPolicy is the refresh-token setting that applies to c.
func RefreshPolicy(c store.Client) store.ClientRefreshToken {
	if c.RefreshToken == nil {
		return DefaultRefreshToken()
	}
	return *c.RefreshToken
}

// BuildRefreshToken checks a refresh_token object as written and fills in
// what it leaves out (zero lifetimes and empty types take the defaults). The
// ranges are Auth0's: lifetimes 1 s to five years, leeway not negative; with
// both lifetimes finite the idle one may not exceed the absolute one.
func BuildRefreshToken(r store.ClientRefreshToken) (store.ClientRefreshToken, error) {
	d := DefaultRefreshToken()
	switch r.RotationType {
	case "":
		r.RotationType = d.RotationType
	case RotationRotating, RotationNonRotating:
	default:
		return r, fmt.Errorf("rotation_type: %q is not one of rotating, non-rotating", r.RotationType)
	}
	switch r.ExpirationType {
	case "":
		r.ExpirationType = d.ExpirationType
	case ExpirationExpiring, ExpirationNonExpiring:
	default:
		return r, fmt.Errorf("expiration_type: %q is not one of expiring, non-expiring", r.ExpirationType)
	}
	if r.Leeway < 0 {
		return r, errors.New("leeway: must not be negative")
	}
	if r.TokenLifetime == 0 {
		r.TokenLifetime = d.TokenLifetime
	}
	if r.IdleTokenLifetime == 0 {
		r.IdleTokenLifetime = d.IdleTokenLifetime
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"token_lifetime", r.TokenLifetime}, {"idle_token_lifetime", r.IdleTokenLifetime}} {
		if f.v < 1 || f.v > maxRefreshLifetime {
			return r, fmt.Errorf("%s: %d is outside 1–%d seconds", f.name, f.v, maxRefreshLifetime)
		}
	}
	if r.ExpirationType == ExpirationExpiring && !r.InfiniteTokenLifetime && !r.InfiniteIdleTokenLifetime &&
		r.IdleTokenLifetime > r.TokenLifetime {
		return r, fmt.Errorf("idle_token_lifetime: %d exceeds token_lifetime %d", r.IdleTokenLifetime, r.TokenLifetime)
	}
	return r, nil
}

// RefreshExpiry is when a refresh-token family first issued at now expires
// under p; zero when it never does.
func RefreshExpiry(p store.ClientRefreshToken, now time.Time) time.Time {
	if p.ExpirationType == ExpirationNonExpiring || p.InfiniteTokenLifetime {
		return time.Time{}
	}
	return now.Add(time.Duration(p.TokenLifetime) * time.Second)
}

// RefreshIdleExpiry is when a refresh token used (or issued) at now expires
// unless used again under p; zero when it never does.
func RefreshIdleExpiry(p store.ClientRefreshToken, now time.Time) time.Time {
	if p.ExpirationType == ExpirationNonExpiring || p.InfiniteIdleTokenLifetime {
		return time.Time{}
	}
	return now.Add(time.Duration(p.IdleTokenLifetime) * time.Second)
}
