package delivery

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SendError is a failed delivery, classified. Every error the transports in
// this package return (SMTP, Twilio, Gateway) is a *SendError, so the outbox
// can decide with errors.As whether to retry, and the Authentication API can
// show Error() as an Auth0-like sms_provider_error description. No secret
// (password, token, gateway secret) is ever part of it.
type SendError struct {
	// Temporary is true when a later attempt may succeed: network errors,
	// timeouts, HTTP 429 and 5xx, SMTP 4xx replies.
	Temporary bool
	// Code is the provider's own error code (Twilio's "21211"), or empty.
	Code string
	// Message is the provider's message, or a description of the failure.
	Message string
	// Status is the HTTP status, or the SMTP reply code; 0 when there was
	// no answer.
	Status int
}

// Error returns Auth0's wording: Twilio errors as "<message> (Code: <code>)";
// gateway errors as "Unexpected response while calling the SMS gateway:
// <status>" or "Authentication failed while calling the SMS gateway: 401";
// SMTP errors as the server's reply ("550 5.1.1 No such user").
func (e *SendError) Error() string {
	if e.Code != "" {
		return e.Message + " (Code: " + e.Code + ")"
	}
	return e.Message
}

// defaultHTTPTimeout is the SMS gateway contract's timeout (Auth0 gives up
// after 30 s); Twilio gets the same.
const defaultHTTPTimeout = 30 * time.Second

// maxResponseBody bounds what is read of a provider's answer.
const maxResponseBody = 64 << 10

// defaultHTTPClient is used when a constructor is given a nil client: a 30 s
// timeout, and redirects are not followed (a redirected POST would be either
// replayed elsewhere with its credentials or turned into a GET), so a 3xx is
// an unexpected answer.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: defaultHTTPTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// readBody reads at most maxResponseBody bytes of a response body, then
// closes it.
func readBody(res *http.Response) []byte {
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxResponseBody))
	return b
}

// isTimeout reports whether err is a deadline or network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, http.ErrHandlerTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transportDetail describes a failed HTTP round trip without the request URL
// (which may carry credentials in a gateway URL's query), then removes any
// secret that still shows.
func transportDetail(err error, secrets ...string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return redact(err.Error(), secrets...)
}

// redact replaces every non-empty secret in s.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// statusTemporary classifies an HTTP status: 429 and 5xx may succeed later;
// other 4xx (and anything else unexpected) will not.
func statusTemporary(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}
