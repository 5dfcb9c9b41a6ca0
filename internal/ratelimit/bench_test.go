package ratelimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
)

// benchmarkTake measures Take on one hot key, on a working set of 10,000
// keys, and on a new key every time (a flood of distinct IPs: Memory then
// runs at its cap and evicts on every take), serially and from parallel
// goroutines.
func benchmarkTake(b *testing.B, l ratelimit.Limiter) {
	ctx := context.Background()
	lim := ratelimit.Limit{Burst: 1000, Rate: 1000, Per: time.Second}
	b.Run("hot-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Take(ctx, "hot", lim, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	var seq atomic.Int64
	b.Run("10k-keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Take(ctx, "ip:"+strconv.FormatInt(seq.Add(1)%10000, 10), lim, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Take(ctx, "flood:"+strconv.FormatInt(seq.Add(1), 10), lim, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel-10k-keys", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Take(ctx, "ip:"+strconv.FormatInt(seq.Add(1)%10000, 10), lim, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
