package outbox

import (
	"log/slog"
	"sync"
	"time"
)

// health tells the operator, once, when a provider starts failing and
// when it recovers: a temporary failure (unreachable, timed out, 4xx)
// marks the provider down with one error line; its next accepted message
// marks it up again with one info line. Per-message refusals (permanent
// failures: an unknown mailbox, an invalid number) say nothing about the
// provider and change nothing.
type health struct {
	log  *slog.Logger
	now  func() time.Time
	mu   sync.Mutex
	down map[string]*outage
}

type outage struct {
	since    time.Time
	failures int
}

func newHealth(log *slog.Logger, now func() time.Time) *health {
	return &health{log: log, now: now, down: map[string]*outage{}}
}

// observe records the outcome of one attempt to reach provider.
func (h *health) observe(provider string, err error, temporary bool) {
	if err != nil && !temporary {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.down[provider]
	switch {
	case err != nil && o == nil:
		h.down[provider] = &outage{since: h.now(), failures: 1}
		h.log.Error("delivery provider unavailable: messages are kept and retried until it recovers or their codes expire",
			"provider", provider, "err", err)
	case err != nil:
		o.failures++
	case o != nil:
		delete(h.down, provider)
		h.log.Info("delivery provider recovered", "provider", provider,
			"down_for", h.now().Sub(o.since).Round(time.Millisecond).String(), "failed_attempts", o.failures)
	}
}
