package outbox

import (
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

func TestSendTimeoutWithinLease(t *testing.T) {
	for _, lease := range []time.Duration{time.Second, 2 * time.Second, DefaultLease, 10 * time.Minute} {
		w := &Worker{Lease: lease}
		if d := w.sendTimeout(); d > lease/3 || d > SendTimeout || d <= 0 {
			t.Fatalf("lease %v: send timeout %v", lease, d)
		}
	}
}
