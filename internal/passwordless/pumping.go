package passwordless

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/store"
)

// Default SMS budgets (per hour) when a connection sets none.
const (
	DefaultSMSPerNumber = 10
	DefaultSMSPerBlock  = 100
)

// checkSMS applies the SMS pumping defences (beyond Auth0) to a number
// about to get a code: a real number (libphonenumber), of an allowed
// country, within the hourly budgets of the number and of its block (the
// number without its last four digits, where pumping attacks cycle). The
// errors read like the provider's (Lock understands code 21211).
func (s *Service) checkSMS(conn store.Connection, number string, now time.Time) error {
	region, ok := delivery.PhoneRegion(number)
	if !ok {
		return &InputError{Code: "sms_provider_error",
			Description: fmt.Sprintf("The 'To' number %s is not a valid phone number. (Code: 21211)", number)}
	}
	if allowed := conn.Options.AllowedCountries; len(allowed) > 0 && !slices.Contains(allowed, region) {
		return &InputError{Code: "sms_provider_error",
			Description: fmt.Sprintf("Sending SMS to numbers of %s is not allowed for this connection. (Code: 21408)", region)}
	}
	perNumber, perBlock := DefaultSMSPerNumber, DefaultSMSPerBlock
	if b := conn.Options.SMSBudget; b != nil {
		if b.PerNumberPerHour > 0 {
			perNumber = b.PerNumberPerHour
		}
		if b.PerBlockPerHour > 0 {
			perBlock = b.PerBlockPerHour
		}
	}
	block := number
	if len(block) > 8 {
		block = block[:len(block)-4]
	}
	if !s.budget.take(conn.Name, "number:"+number, perNumber, "block:"+block, perBlock, now) {
		return &InputError{Status: 429, Code: "too_many_requests",
			Description: "Too many codes were sent to this phone number or its number range. Try again later."}
	}
	return nil
}

// budget counts messages per key in fixed one-hour windows. It is kept
// per node: with several nodes each enforces the budget on its own share
// (shared counters come with the Redis limiter).
type budget struct {
	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// take counts one message against both keys if both are under their
// limits, and reports whether it did. Refused requests create nothing, and
// a full table refuses rather than forgets (forgetting would reset every
// budget for an attacker who fills it).
func (b *budget) take(scope, k1 string, l1 int, k2 string, l2 int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.windows == nil {
		b.windows = map[string]*window{}
	}
	k1, k2 = scope+"|"+k1, scope+"|"+k2
	if b.count(k1, now) >= l1 || b.count(k2, now) >= l2 {
		return false
	}
	for _, k := range []string{k1, k2} {
		w := b.windows[k]
		if w == nil || now.Sub(w.start) >= time.Hour || now.Before(w.start) {
			if len(b.windows) >= maxBudgetKeys {
				b.prune(now)
				if len(b.windows) >= maxBudgetKeys {
					return false
				}
			}
			w = &window{start: now}
			b.windows[k] = w
		}
		w.n++
	}
	return true
}

// maxBudgetKeys bounds the budget table's memory.
const maxBudgetKeys = 200_000

// count is the key's count in its current window (0 without one).
func (b *budget) count(k string, now time.Time) int {
	w := b.windows[k]
	if w == nil || now.Sub(w.start) >= time.Hour || now.Before(w.start) {
		return 0
	}
	return w.n
}

// prune drops windows that ended.
func (b *budget) prune(now time.Time) {
	for k, w := range b.windows {
		if now.Sub(w.start) >= time.Hour {
			delete(b.windows, k)
		}
	}
}
