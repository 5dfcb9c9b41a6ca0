package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Capture is the dev-mode transport: the outbox hands it messages as it
// would hand them to SMTP or an SMS provider, rendered with the
// connection's own templates, and it keeps the newest in a bounded ring
// (and logs them) instead of sending them. It is only wired in --dev.
type Capture struct {
	log *slog.Logger
	now func() time.Time
	max int

	mu      sync.RWMutex
	msgs    []Message     // oldest first
	changed chan struct{} // closed (and replaced) when a message is kept
}

// NewCapture returns a Capture keeping at most max messages.
func NewCapture(log *slog.Logger, now func() time.Time, max int) *Capture {
	return &Capture{log: log, now: now, max: max, changed: make(chan struct{})}
}

// SendEmail keeps an email.
func (c *Capture) SendEmail(ctx context.Context, m Email) error {
	c.keep(ctx, Message{Channel: "email", To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Code: m.Code, Link: m.Link})
	return nil
}

// SendSMS keeps a text message, whatever the connection's provider.
func (c *Capture) SendSMS(ctx context.Context, _ store.Connection, m SMS) error {
	c.keep(ctx, Message{Channel: "sms", To: m.To, Text: m.Body, Code: m.Code})
	return nil
}

// Provider names the capture in metrics and logs.
func (c *Capture) Provider(string, store.Connection) string { return "dev_capture" }

func (c *Capture) keep(ctx context.Context, m Message) {
	m.ID = secret.Hex(12)
	m.CreatedAt = c.now().UTC()
	c.mu.Lock()
	if len(c.msgs) >= c.max {
		copy(c.msgs, c.msgs[1:])
		c.msgs = c.msgs[:len(c.msgs)-1]
	}
	c.msgs = append(c.msgs, m)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.log.InfoContext(ctx, "dev capture: message kept", "channel", m.Channel, "to", m.To, "code", m.Code, "link", m.Link)
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

// Await returns the newest message to to, waiting for one to be kept
// until ctx ends.
func (c *Capture) Await(ctx context.Context, to string) (Message, error) {
	for {
		c.mu.RLock()
		changed := c.changed
		c.mu.RUnlock()
		if msgs := c.Messages(to, 1); len(msgs) > 0 {
			return msgs[0], nil
		}
		select {
		case <-ctx.Done():
			return Message{}, fmt.Errorf("no message to %s: %w", to, ctx.Err())
		case <-changed:
		}
	}
}

// Message returns the kept message with this id.
func (c *Capture) Message(id string) (Message, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range c.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}
