package mgmtapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLogReadBounds: a log read that outlives its deadline becomes a 400
// saying how to narrow it, and reads beyond MaxConcurrentSearches wait for a
// slot and give up (429) when their own deadline passes first.
func TestLogReadBounds(t *testing.T) {
	a := &API{searchSlots: make(chan struct{}, MaxConcurrentSearches)}
	ctx := context.Background()

	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	if err := a.logRead(ctx, 20*time.Millisecond, slow); !errors.Is(err, errSearchTimeout) {
		t.Fatalf("slow read: %v", err)
	}
	if len(a.searchSlots) != 0 {
		t.Fatalf("%d slots still taken", len(a.searchSlots))
	}

	release := make(chan struct{})
	started := make(chan struct{}, MaxConcurrentSearches)
	done := make(chan error, MaxConcurrentSearches)
	for range MaxConcurrentSearches {
		go func() {
			done <- a.logRead(ctx, time.Minute, func(context.Context) error { started <- struct{}{}; <-release; return nil })
		}()
	}
	for range MaxConcurrentSearches {
		<-started
	}
	if err := a.logRead(ctx, 20*time.Millisecond, func(context.Context) error { t.Error("ran without a slot"); return nil }); !errors.Is(err, errSearchBusy) {
		t.Fatalf("read beyond the slots: %v", err)
	}
	close(release)
	for range MaxConcurrentSearches {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := a.logRead(ctx, time.Second, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("a read after the others finished: %v", err)
	}
	plain := errors.New("disk")
	if err := a.logRead(ctx, time.Second, func(context.Context) error { return plain }); err != plain {
		t.Fatalf("a store error came back as %v", err)
	}
}
