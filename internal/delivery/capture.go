package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
)

// Capture is the dev-mode sender: it keeps the newest messages in a bounded
// ring (and logs them) instead of sending them. It is only wired in --dev.
type Capture struct {
	log *slog.Logger
	now func() time.Time
	max int

	mu   sync.RWMutex
	msgs []Message // oldest first
}

// NewCapture returns a Capture keeping at most max messages.
func NewCapture(log *slog.Logger, now func() time.Time, max int) *Capture {
	return &Capture{log: log, now: now, max: max}
}

// Send renders n and keeps it.
func (c *Capture) Send(ctx context.Context, n Notification) error {
	m := Render(n)
	m.ID = secret.Hex(12)
	m.CreatedAt = c.now().UTC()
	c.mu.Lock()
	if len(c.msgs) >= c.max {
		copy(c.msgs, c.msgs[1:])
		c.msgs = c.msgs[:len(c.msgs)-1]
	}
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.log.InfoContext(ctx, "dev capture: message kept", "channel", m.Channel, "to", m.To, "code", m.Code, "link", m.Link)
	return nil
}

// Messages returns up to limit messages, newest first, optionally only
// those sent to to.
func (c *Capture) Messages(to string, limit int) []Message {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []Message{}
	for i := len(c.msgs) - 1; i >= 0 && len(out) < limit; i-- {
		if to == "" || c.msgs[i].To == to {
			out = append(out, c.msgs[i])
		}
	}
	return out
}
