package passwordless

import (
	"fmt"
	"testing"
	"time"
)

// TestBudget: both keys must be under their limits; refusals create no
// entries; windows reset after an hour; a full table refuses instead of
// forgetting what it counted.
func TestBudget(t *testing.T) {
	var b budget
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if !b.take("sms", "n1", 3, "blk", 5, now) {
			t.Fatalf("take %d refused", i)
		}
	}
	if b.take("sms", "n1", 3, "blk", 5, now) {
		t.Fatal("the number's budget was exceeded")
	}
	if !b.take("sms", "n2", 3, "blk", 5, now) || !b.take("sms", "n3", 3, "blk", 5, now) {
		t.Fatal("other numbers of the block refused early")
	}
	before := len(b.windows)
	for i := range 100 {
		if b.take("sms", fmt.Sprintf("new%d", i), 3, "blk", 5, now) {
			t.Fatal("the block's budget was exceeded")
		}
	}
	if len(b.windows) != before {
		t.Fatalf("refusals created %d entries", len(b.windows)-before)
	}
	if !b.take("sms", "n1", 3, "blk", 5, now.Add(time.Hour)) {
		t.Fatal("the window did not reset after an hour")
	}
	if !b.take("email", "n1", 3, "blk", 5, now) {
		t.Fatal("scopes are not separate")
	}

	var full budget
	full.windows = map[string]*window{}
	for i := range maxBudgetKeys {
		full.windows[fmt.Sprint(i)] = &window{start: now, n: 1}
	}
	full.windows["sms|blk"] = &window{start: now, n: 5}
	if full.take("sms", "x", 3, "y", 5, now) {
		t.Fatal("a full table accepted a new key")
	}
	if full.count("sms|blk", now) != 5 {
		t.Fatal("a full table forgot a count")
	}
}
