package authapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/store"
)

// Limits applies the endpoint rate limits (package protect).
type Limits interface {
	Allow(ctx context.Context, ev store.LogEvent, limits ...protect.Endpoint) (ratelimit.Decision, bool, error)
}

// limit takes one token of the named limit for key (and, with global, of
// the tenant's global limit, in the same call to the limiter), sets the
// X-RateLimit-* headers, and returns the 429 (with Retry-After) when
// refused, the 503 when the limit could not be checked and fails closed.
func (a *API) limit(w http.ResponseWriter, r *http.Request, name, key string, c store.Client, global bool) error {
	if a.Limits == nil {
		return nil
	}
	peer := httpx.PeerIP(r.Context())
	ev := store.LogEvent{ClientID: c.ClientID, ClientName: c.Name, IP: key, ClientIP: peer}
	switch name {
	case protect.PasswordlessStart, protect.Token, protect.CoAuthenticate:
		key = protect.IPKey(key) // an IPv6 user by their /64
	default:
		ev.IP = peer
	}
	limits := []protect.Endpoint{{Name: name, Key: key}}
	if global {
		limits = append(limits, protect.Endpoint{Name: protect.Global, Key: "tenant"})
	}
	d, limited, err := a.Limits.Allow(r.Context(), ev, limits...)
	if !limited && err == nil {
		return nil
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	if err == nil {
		return nil
	}
	e, ok := apierr.Lookup(apierr.Auth, err) // protect.ErrLimited, protect.ErrUnavailable
	if !ok {
		return fmt.Errorf("rate limit %s: %w", name, err)
	}
	e.Cause = fmt.Errorf("rate limit %s: %w", name, err)
	if errors.Is(err, protect.ErrLimited) {
		secs := int64((d.RetryAfter + time.Second - 1) / time.Second)
		e.Header = http.Header{"Retry-After": {strconv.FormatInt(max(secs, 1), 10)}}
	}
	return e
}
