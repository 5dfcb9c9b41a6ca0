package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for attempts, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		for range 50 {
			if d := Backoff(attempts); d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", attempts, d, want/2, want)
			}
		}
	}
	for _, attempts := range []int{6, 10, 63, 1 << 20} {
		if d := Backoff(attempts); d < MaxBackoff/2 || d > MaxBackoff {
			t.Fatalf("Backoff(%d) = %v, want at most %v", attempts, d, MaxBackoff)
		}
	}
}

// TestHealthLogsOutageOnce: the first temporary failure of a provider is
// one error line, further failures are quiet, the next success is one
// info line; permanent failures and other providers are independent.
func TestHealthLogsOutageOnce(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	h := newHealth(slog.New(slog.NewJSONHandler(&buf, nil)), func() time.Time { return now })
	fail := errors.New("dial tcp 127.0.0.1:25: connection refused")
	h.observe("smtp", nil, false)
	h.observe("smtp", errors.New("550 no such mailbox"), false) // a refusal, not an outage
	h.observe("smtp", fail, true)
	h.observe("smtp", fail, true)
	h.observe("twilio", nil, false)
	now = now.Add(90 * time.Second)
	h.observe("smtp", fail, true)
	h.observe("smtp", nil, false)
	h.observe("smtp", nil, false)

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
	}
	if lines[0]["level"] != "ERROR" || lines[0]["provider"] != "smtp" || lines[0]["err"] != fail.Error() {
		t.Errorf("outage line %v", lines[0])
	}
	if lines[1]["level"] != "INFO" || lines[1]["msg"] != "delivery provider recovered" || lines[1]["failed_attempts"] != 3.0 || lines[1]["down_for"] != "1m30s" {
		t.Errorf("recovery line %v", lines[1])
	}
}
