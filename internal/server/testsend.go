package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/internal/store"
)

// testSender sends the console's test messages (console.Sender) through
// the transport the outbox hands every message to (SMTP and the SMS
// providers, or the dev capture), rendered by delivery.Compose as the
// outbox's queue renders a login's message. It skips the queue on
// purpose: the member waits for the answer, and a refusal (a wrong SMTP
// password, a bad Twilio token) is shown to them at once instead of being
// retried until a code that does not exist expires.
type testSender struct {
	conns outbox.Connections
	tr    outbox.Transport
	from  string // the default sender, as the queue's
}

func (t testSender) SendTest(ctx context.Context, n delivery.Notification, connection string, email *store.EmailTemplate, sms string) error {
	conn, err := t.conns.Connection(ctx, connection)
	if err != nil {
		return fmt.Errorf("connection %s: %w", connection, err)
	}
	// The stored connection (its provider and credentials) with the
	// templates being tried.
	conn.Options.Email, conn.Options.Template = email, sms
	m, text, err := delivery.Compose(n, conn, t.from)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, outbox.SendTimeout)
	defer cancel()
	switch {
	case m != nil:
		return t.tr.SendEmail(ctx, *m)
	case text != nil:
		return t.tr.SendSMS(ctx, conn, *text)
	}
	return errors.New("nothing to send")
}
