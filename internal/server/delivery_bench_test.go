package server_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
)

// BenchmarkStartWithSMTP measures /passwordless/start with real delivery
// through the outbox to an SMTP server that answers at once or only after
// 250 ms: the start's latency (ns/op) must not follow the SMTP server's.
// It also reports the pick-up latency, from the start's answer to the
// message's arrival at the SMTP server (p50/p99, ms).
func BenchmarkStartWithSMTP(b *testing.B) {
	for _, delay := range []time.Duration{0, 250 * time.Millisecond} {
		b.Run(fmt.Sprintf("smtp_delay=%v", delay), func(b *testing.B) {
			sink := newSMTPSink(b)
			sink.arrived = map[string]time.Time{}
			sink.fail = func(int) error { time.Sleep(delay); return nil }
			_, ts := benchServer(b, config.Config{MasterKey: hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
				SMTPURL: "smtp://" + sink.addr + "?from=login%40latchkey.test", TwilioAPIURL: "http://127.0.0.1:1"})

			answered := make(map[string]time.Time, b.N)
			b.ResetTimer()
			for i := range b.N {
				to := fmt.Sprintf("bench%d@example.com", i)
				body := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"connection":"email","send":"code","email":%q}`, webID, webSecret, to)
				res, err := http.Post(ts.URL+"/passwordless/start", "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("start: %d", res.StatusCode)
				}
				answered[to] = time.Now()
			}
			b.StopTimer()
			deadline := time.Now().Add(time.Minute)
			for sink.count() < b.N && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if len(sink.got) != b.N {
				b.Fatalf("delivered %d of %d", len(sink.got), b.N)
			}
			if delay == 0 {
				var pick []float64
				for to, at := range answered {
					pick = append(pick, float64(sink.arrived["<"+to+">"].Sub(at))/float64(time.Millisecond))
				}
				slices.Sort(pick)
				b.ReportMetric(pick[len(pick)/2], "pickup-p50-ms")
				b.ReportMetric(pick[len(pick)*99/100], "pickup-p99-ms")
			}
		})
	}
}
