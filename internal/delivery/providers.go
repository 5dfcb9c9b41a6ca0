package delivery

import (
	"context"

	"github.com/latchkey/latchkey/internal/store"
)

// Providers sends rendered messages: email through the configured SMTP
// server, SMS through each sms connection's provider (Twilio or an SMS
// gateway, with the connection's credentials).
type Providers struct {
	SMTP    *SMTP // nil: email cannot be sent
	Twilio  *Twilio
	Gateway *Gateway
}

// SendEmail sends m through the SMTP server.
func (p *Providers) SendEmail(ctx context.Context, m Email) error {
	if p.SMTP == nil {
		return &SendError{Message: "no SMTP server is configured (--smtp-url)"}
	}
	return p.SMTP.Send(ctx, m)
}

// SendSMS sends m through conn's provider.
func (p *Providers) SendSMS(ctx context.Context, conn store.Connection, m SMS) error {
	o := conn.Options
	switch o.Provider {
	case "sms_gateway":
		cfg := GatewayConfig{URL: o.GatewayURL, Sender: o.From, ForwardReqInfo: o.ForwardReqInfo}
		if a := o.GatewayAuthentication; a != nil {
			cfg.Auth = &GatewayAuth{Method: a.Method, Subject: a.Subject, Audience: a.Audience, Secret: a.Secret,
				SecretBase64: a.SecretBase64Encoded}
		}
		return p.Gateway.Send(ctx, cfg, m)
	case "", "twilio":
		if o.TwilioSID == "" || o.TwilioToken == "" {
			return &SendError{Message: "the sms connection has no Twilio credentials (options.twilio_sid, options.twilio_token)"}
		}
		return p.Twilio.Send(ctx, TwilioConfig{SID: o.TwilioSID, Token: o.TwilioToken, From: o.From,
			MessagingServiceSID: o.MessagingServiceSID}, m)
	}
	return &SendError{Message: "unknown SMS provider " + o.Provider}
}

// Provider names what a message on channel goes through: "smtp" for email,
// the sms connection's provider ("twilio" unless it says "sms_gateway").
func (p *Providers) Provider(channel string, conn store.Connection) string {
	if channel != "sms" {
		return "smtp"
	}
	if conn.Options.Provider == "" {
		return "twilio"
	}
	return conn.Options.Provider
}
