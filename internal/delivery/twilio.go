package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// SMS is a rendered SMS. IP and UserAgent are those of the request that
// asked for it (forwarded to an SMS gateway when the connection says so).
type SMS struct {
	To, Body      string
	IP, UserAgent string
	// Code is what the message carries, for the dev capture.
	Code string `json:",omitempty"`
	// ID identifies the message across attempts (the outbox message id),
	// sent to an SMS gateway as Idempotency-Key. Twilio's Messages API
	// takes no idempotency key. Set when the message is sent, not stored.
	ID string `json:"-"`
}

// TwilioConfig is an sms connection's Twilio account: options twilio_sid,
// twilio_token, from and messaging_service_sid. MessagingServiceSID, when
// set, is used instead of From.
type TwilioConfig struct {
	SID, Token, From, MessagingServiceSID string
}

// DefaultTwilioURL is where Twilio's REST API lives (--twilio-api-url).
const DefaultTwilioURL = "https://api.twilio.com"

// Twilio sends SMS through Twilio's Messages API. It is safe for concurrent
// use; the account comes with each message, as each connection has its own.
type Twilio struct {
	base string
	hc   *http.Client
}

// NewTwilio returns a Twilio sender calling baseURL (DefaultTwilioURL when
// empty). A nil hc means a client with a 30 s timeout that does not follow
// redirects.
func NewTwilio(baseURL string, hc *http.Client) *Twilio {
	if baseURL == "" {
		baseURL = DefaultTwilioURL
	}
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &Twilio{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// twilioError is Twilio's error body: {"code":21211,"message":"…",
// "more_info":"https://www.twilio.com/docs/errors/21211","status":400}.
type twilioError struct {
	Code     json.Number `json:"code"`
	Message  string      `json:"message"`
	MoreInfo string      `json:"more_info"`
	Status   int         `json:"status"`
}

// Send calls POST {base}/2010-04-01/Accounts/{sid}/Messages.json with the
// form To, From or MessagingServiceSid, and Body, authenticated as sid:token.
// A Twilio error becomes a *SendError whose Error() is "<message> (Code:
// <code>)", as Auth0 shows it.
func (t *Twilio) Send(ctx context.Context, cfg TwilioConfig, m SMS) error {
	if cfg.SID == "" || cfg.Token == "" {
		return &SendError{Message: "Twilio is not configured: twilio_sid and twilio_token are required"}
	}
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	switch {
	case cfg.MessagingServiceSID != "":
		form.Set("MessagingServiceSid", cfg.MessagingServiceSID)
	case cfg.From != "":
		form.Set("From", cfg.From)
	default:
		return &SendError{Message: "Twilio is not configured: from or messaging_service_sid is required"}
	}
	endpoint := t.base + "/2010-04-01/Accounts/" + url.PathEscape(cfg.SID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return &SendError{Message: "Invalid Twilio API URL"}
	}
	req.SetBasicAuth(cfg.SID, cfg.Token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := t.hc.Do(req)
	if err != nil {
		if isTimeout(err) {
			return &SendError{Temporary: true, Message: "Timeout while calling Twilio"}
		}
		return &SendError{Temporary: true, Message: "Error while calling Twilio: " + transportDetail(err, cfg.Token)}
	}
	body := readBody(res)
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	e := &SendError{Temporary: statusTemporary(res.StatusCode), Status: res.StatusCode}
	var te twilioError
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&te) == nil && te.Message != "" {
		e.Message = redact(te.Message, cfg.Token)
		if _, err := strconv.ParseInt(te.Code.String(), 10, 64); err == nil {
			e.Code = te.Code.String()
		}
		return e
	}
	e.Message = fmt.Sprintf("Unexpected response from Twilio: %d", res.StatusCode)
	return e
}
