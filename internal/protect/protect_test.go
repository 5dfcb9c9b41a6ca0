package protect

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/store"
)

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":               "203.0.113.7",
		"::ffff:203.0.113.7":        "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":           "2001:db8:1:3::/64",
		"not an ip":                 "not an ip",
	} {
		if got := IPKey(in); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAllowlisted(t *testing.T) {
	list := []string{"192.0.2.0/24", "2001:db8::1"}
	for ip, want := range map[string]bool{"192.0.2.77": true, "::ffff:192.0.2.1": true, "192.0.3.1": false,
		"2001:db8::1": true, "2001:db8::2": false, "junk": false} {
		if got := allowlisted(list, ip); got != want {
			t.Errorf("allowlisted(%q) = %v", ip, got)
		}
	}
}

type fixedSettings store.TenantSettings

func (f fixedSettings) Settings(context.Context) (store.TenantSettings, error) {
	return store.TenantSettings(f), nil
}

// TestAllowRecipient: an email address gets the tenant's per-recipient
// limit; a phone number its sms connection's budgets, per number and per
// number block, and a block refusal spends nothing of the number's budget.
func TestAllowRecipient(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	var s store.TenantSettings
	s.Latchkey.RateLimits.PerRecipient = &store.RateLimit{Burst: 2, Rate: 2, IntervalSeconds: 3600}
	g := New(Deps{Limiter: ratelimit.NewMemory(func() time.Time { return now }), Settings: fixedSettings(s),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Hostname: "test", Now: func() time.Time { return now }})
	email := store.Connection{Name: "email", Strategy: "email"}
	for i, want := range []error{nil, nil, ErrLimited} {
		if err := g.AllowRecipient(ctx, email, "a@example.com", store.LogEvent{}); !errors.Is(err, want) && err != want {
			t.Fatalf("email %d: %v, want %v", i, err, want)
		}
	}
	sms := store.Connection{Name: "sms", Strategy: "sms", Options: store.ConnectionOptions{
		SMSBudget: &store.SMSBudget{PerNumberPerHour: 2, PerBlockPerHour: 3}}}
	steps := []struct {
		number string
		want   error
	}{
		{"+14155550101", nil}, {"+14155550101", nil}, {"+14155550101", ErrLimited}, // the number's 2
		{"+14155550102", nil},        // the block's third
		{"+14155550103", ErrLimited}, // the block is spent
	}
	for i, st := range steps {
		if err := g.AllowRecipient(ctx, sms, st.number, store.LogEvent{}); !errors.Is(err, st.want) && err != st.want {
			t.Fatalf("sms step %d (%s): %v, want %v", i, st.number, err, st.want)
		}
	}
	// The block's refusal did not spend +14155550103's own budget.
	d, err := g.lim.Peek(ctx, "lim:"+PerRecipient+":sms:+14155550103", ratelimit.Limit{Burst: 2, Rate: 2, Per: time.Hour})
	if err != nil || d.Remaining != 2 {
		t.Fatalf("the refused number's budget: %+v %v", d, err)
	}
	now = now.Add(time.Hour)
	if err := g.AllowRecipient(ctx, sms, "+14155550103", store.LogEvent{}); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
}
