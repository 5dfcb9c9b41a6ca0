package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/store"
)

// outboxCases: messages queued with their code and claimed by workers.
var outboxCases = []testCase{
	{"PutCode", testOutboxPutCode},
	{"AllOrNothing", testOutboxAllOrNothing},
	{"ClaimOrder", testOutboxClaimOrder},
	{"ConcurrentClaim", testOutboxConcurrentClaim},
	{"LeaseExpiry", testOutboxLeaseExpiry},
	{"WrongNode", testOutboxWrongNode},
	{"CompleteMany", testOutboxCompleteMany},
	{"Renew", testOutboxRenew},
	{"Release", testOutboxRelease},
	{"Retry", testOutboxRetry},
	{"LastError", testOutboxLastError},
	{"NextDue", testOutboxNextDue},
	{"Stats", testOutboxStats},
	{"Purge", testOutboxPurge},
}

func sampleMessage(id, recipient string, next time.Time) store.OutboxMessage {
	return store.OutboxMessage{
		ID:         id,
		Channel:    "email",
		Recipient:  recipient,
		ClientID:   "client_a",
		Connection: "email",
		// Sealed bytes: not text, not JSON.
		Payload:       append([]byte{0, 0xff, 0xfe, '\n'}, "sealed:"+id+"\x00"...),
		CreatedAt:     at(0),
		ExpiresAt:     at(5 * time.Minute),
		NextAttemptAt: next,
	}
}

// queue stores a code for m's recipient together with m.
func queue(t *testing.T, s store.Store, m store.OutboxMessage) {
	t.Helper()
	must(t, s.PutCode(t.Context(), sampleCode("code_"+m.ID, m.Recipient, "123456"), &m), "PutCode with message "+m.ID)
}

// claimed is m as a claim by node at now for lease returns it.
func claimed(m store.OutboxMessage, node string, now time.Time, lease time.Duration) store.OutboxMessage {
	m.ClaimedBy, m.ClaimedUntil = node, now.Add(lease)
	return m
}

func claim(t *testing.T, s store.Store, node string, now time.Time, lease time.Duration, limit int) []store.OutboxMessage {
	t.Helper()
	got, err := s.ClaimOutbox(t.Context(), node, now, lease, limit)
	must(t, err, fmt.Sprintf("ClaimOutbox by %s at %v", node, now.Sub(base())))
	return got
}

func wantDue(t *testing.T, s store.Store, want time.Time, what string) {
	t.Helper()
	due, ok, err := s.NextOutboxDue(t.Context())
	must(t, err, "NextOutboxDue "+what)
	if !ok || !due.Equal(want) {
		t.Fatalf("NextOutboxDue %s = %v, %v; want %v", what, due.Sub(base()), ok, want.Sub(base()))
	}
}

func wantNoneDue(t *testing.T, s store.Store, what string) {
	t.Helper()
	due, ok, err := s.NextOutboxDue(t.Context())
	must(t, err, "NextOutboxDue "+what)
	if ok {
		t.Fatalf("NextOutboxDue %s = %v, true; want an empty outbox", what, due.Sub(base()))
	}
}

// testOutboxPutCode: without a message PutCode queues nothing; with one,
// the code and the message are both stored, every field (the payload byte
// for byte) comes back from the claim, and a replaced code leaves its
// earlier message queued.
func testOutboxPutCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	wantNoneDue(t, s, "on an empty store")
	if got := claim(t, s, "node-a", now, time.Minute, 10); len(got) != 0 {
		t.Fatalf("ClaimOutbox on an empty store = %+v", got)
	}

	c1 := sampleCode("code_1", "a@example.com", "111111")
	must(t, s.PutCode(ctx, c1, nil), "PutCode without a message")
	wantNoneDue(t, s, "after PutCode without a message")

	c2 := sampleCode("code_2", "a@example.com", "222222")
	m := sampleMessage("msg_1", "a@example.com", at(0))
	m.Attempts, m.LastError = 2, "queued after two failures elsewhere"
	must(t, s.PutCode(ctx, c2, &m), "PutCode with a message")
	sms := store.OutboxMessage{ID: "msg_2", Channel: "sms", Recipient: "+14155550100",
		CreatedAt: at(0), ExpiresAt: at(5 * time.Minute), NextAttemptAt: at(time.Second)}
	smsCode := sampleCode("code_3", "+14155550100", "333333")
	smsCode.Connection = "sms"
	must(t, s.PutCode(ctx, smsCode, &sms), "PutCode with a bare message")
	wantDue(t, s, m.NextAttemptAt, "after PutCode with messages")

	// The code replaced the outstanding one.
	_, err := s.CheckCode(ctx, c1.Connection, c1.Identifier, c1.Hash, now)
	wantErr(t, err, store.ErrCodeWrong, "CheckCode of the replaced code")
	got, err := s.CheckCode(ctx, c2.Connection, c2.Identifier, c2.Hash, now)
	must(t, err, "CheckCode of the code stored with its message")
	want := c2
	want.Attempts = 1
	diff(t, "code stored with its message", want, got)

	// A new code drops the unsent, unclaimed message of the code it
	// replaces (a dead code is not worth sending); one already claimed is
	// left to its sender.
	first := claim(t, s, "node-a", now, time.Minute, 1)
	diff(t, "first claim", []store.OutboxMessage{claimed(m, "node-a", now, time.Minute)}, first)
	c3 := sampleCode("code_4", "a@example.com", "444444")
	m2 := sampleMessage("msg_3", "a@example.com", at(2*time.Second))
	must(t, s.PutCode(ctx, c3, &m2), "PutCode replacing the code, with a message")
	smsCode2 := sampleCode("code_5", "+14155550100", "555555")
	smsCode2.Connection = "sms"
	sms2 := store.OutboxMessage{ID: "msg_4", Channel: "sms", Recipient: "+14155550100",
		CreatedAt: at(0), ExpiresAt: at(5 * time.Minute), NextAttemptAt: at(3 * time.Second)}
	must(t, s.PutCode(ctx, smsCode2, &sms2), "PutCode replacing the sms code")

	msgs := claim(t, s, "node-b", now, time.Minute, 10)
	diff(t, "claimed messages", []store.OutboxMessage{
		claimed(m2, "node-b", now, time.Minute),
		claimed(sms2, "node-b", now, time.Minute),
	}, msgs)
	if string(first[0].Payload) != string(m.Payload) {
		t.Fatalf("Payload = %q, want %q", first[0].Payload, m.Payload)
	}
	must(t, s.CompleteOutbox(ctx, m.ID, "node-a"), "the claimed message of a replaced code is still there")
	if len(msgs[1].Payload) != 0 {
		t.Fatalf("nil Payload came back as %q", msgs[1].Payload)
	}
}

// testOutboxAllOrNothing: a PutCode whose message cannot be stored (its ID
// is taken) stores nothing: neither the code nor a second message.
func testOutboxAllOrNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	c1 := sampleCode("code_1", "a@example.com", "111111")
	m := sampleMessage("msg_1", "a@example.com", at(0))
	must(t, s.PutCode(ctx, c1, &m), "PutCode")

	dup := sampleMessage("msg_1", "b@example.com", at(-time.Minute))
	dup.Payload = []byte("another payload")
	// Replacing a's code, and a first code for b: both fail whole.
	c2 := sampleCode("code_2", "a@example.com", "222222")
	wantErr(t, s.PutCode(ctx, c2, &dup), store.ErrConflict, "PutCode replacing a code, with a taken message id")
	c3 := sampleCode("code_3", "b@example.com", "333333")
	wantErr(t, s.PutCode(ctx, c3, &dup), store.ErrConflict, "PutCode of a new code, with a taken message id")

	got, err := s.CheckCode(ctx, c1.Connection, c1.Identifier, c1.Hash, now)
	must(t, err, "CheckCode of the first code")
	diff(t, "first code, not replaced", c1, got)
	_, err = s.ConsumeCode(ctx, c3.Connection, c3.Identifier, c3.Hash, now)
	wantErr(t, err, store.ErrNotFound, "ConsumeCode of the code whose message failed")

	diff(t, "the only message", []store.OutboxMessage{claimed(m, "node-a", now, time.Minute)},
		claim(t, s, "node-a", now, time.Minute, 10))
}

// testOutboxClaimOrder: due messages only (NextAttemptAt <= now), longest
// due first with ties by ID, at most limit, none already held.
func testOutboxClaimOrder(t *testing.T, s store.Store) {
	now := at(time.Minute)
	const lease = time.Hour
	msgs := map[string]store.OutboxMessage{}
	// Queued out of order, so that insertion order cannot pass for the
	// claim's.
	for _, m := range []struct {
		id   string
		next time.Duration
	}{
		{"m_b", 20 * time.Second},
		{"m_late", 2 * time.Minute},
		{"m_c", 10 * time.Second},
		{"m_edge", time.Minute}, // due exactly now
		{"m_a", 20 * time.Second},
		{"m_d", -time.Minute}, // due before it was created: fine
	} {
		msg := sampleMessage(m.id, m.id+"@example.com", at(m.next))
		queue(t, s, msg)
		msgs[m.id] = msg
	}
	pick := func(node string, now time.Time, ids ...string) []store.OutboxMessage {
		var out []store.OutboxMessage
		for _, id := range ids {
			out = append(out, claimed(msgs[id], node, now, lease))
		}
		return out
	}

	diff(t, "first claim, limit 2", pick("node-a", now, "m_d", "m_c"), claim(t, s, "node-a", now, lease, 2))
	for _, limit := range []int{0, -1} {
		if got := claim(t, s, "node-b", now, lease, limit); len(got) != 0 {
			t.Fatalf("ClaimOutbox with limit %d = %+v, want none", limit, got)
		}
	}
	diff(t, "second claim", pick("node-b", now, "m_a", "m_b", "m_edge"), claim(t, s, "node-b", now, lease, 10))
	if got := claim(t, s, "node-c", now, lease, 10); len(got) != 0 {
		t.Fatalf("third claim = %+v, want none (all due messages held)", got)
	}
	later := at(2 * time.Minute)
	diff(t, "claim when m_late is due", pick("node-c", later, "m_late"), claim(t, s, "node-c", later, lease, 10))
	_, err := s.ClaimOutbox(t.Context(), "", later, lease, 10)
	if err == nil {
		t.Fatal("ClaimOutbox with an empty node id succeeded")
	}
}

// testOutboxConcurrentClaim: claimers racing for the same messages each
// get a share, and every message goes to exactly one of them.
func testOutboxConcurrentClaim(t *testing.T, s store.Store) {
	const (
		claimers = 8
		messages = 60
		limit    = 4
		lease    = time.Hour // live throughout: the rounds share one now
	)
	now := at(time.Minute)
	for round := range rounds {
		for i := range messages {
			m := sampleMessage(fmt.Sprintf("r%d_m%02d", round, i), fmt.Sprintf("u%d@example.com", i), at(time.Duration(i%7)*time.Second))
			queue(t, s, m)
		}
		var mu sync.Mutex
		owner := map[string][]string{} // message id → nodes that claimed it
		errs := race(claimers, func(i int) error {
			node := fmt.Sprint("node-", i)
			for {
				got, err := s.ClaimOutbox(t.Context(), node, now, lease, limit)
				if err != nil {
					return err
				}
				if len(got) == 0 {
					return nil
				}
				if len(got) > limit {
					return fmt.Errorf("%s claimed %d messages, limit %d", node, len(got), limit)
				}
				mu.Lock()
				for _, m := range got {
					if m.ClaimedBy != node || !m.ClaimedUntil.Equal(now.Add(lease)) {
						mu.Unlock()
						return fmt.Errorf("%s got %s claimed by %q until %v", node, m.ID, m.ClaimedBy, m.ClaimedUntil)
					}
					owner[m.ID] = append(owner[m.ID], node)
				}
				mu.Unlock()
			}
		})
		for _, err := range errs {
			must(t, err, fmt.Sprintf("round %d: claimer", round))
		}
		if len(owner) != messages {
			t.Fatalf("round %d: %d messages claimed, want %d", round, len(owner), messages)
		}
		for id, nodes := range owner {
			if !strings.HasPrefix(id, fmt.Sprintf("r%d_", round)) || len(nodes) != 1 {
				t.Fatalf("round %d: message %s claimed by %v, want one node and this round's messages only", round, id, nodes)
			}
		}
		if got := claim(t, s, "node-late", now, lease, messages); len(got) != 0 {
			t.Fatalf("round %d: %d messages left to claim after the race", round, len(got))
		}
	}
}

// testOutboxLeaseExpiry: a message whose lease ended can be claimed by
// another node, and the first node has lost it.
func testOutboxLeaseExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := sampleMessage("msg_1", "a@example.com", at(0))
	queue(t, s, m)
	const lease = 30 * time.Second
	first := at(time.Minute)
	end := first.Add(lease)
	diff(t, "claim by node-a", []store.OutboxMessage{claimed(m, "node-a", first, lease)}, claim(t, s, "node-a", first, lease, 10))
	wantDue(t, s, end, "while node-a holds it")

	if got := claim(t, s, "node-b", end.Add(-time.Millisecond), lease, 10); len(got) != 0 {
		t.Fatalf("claim just before the lease ends = %+v, want none", got)
	}
	diff(t, "claim by node-b as the lease ends", []store.OutboxMessage{claimed(m, "node-b", end, lease)},
		claim(t, s, "node-b", end, lease, 10))
	wantDue(t, s, end.Add(lease), "while node-b holds it")

	wantErr(t, s.CompleteOutbox(ctx, m.ID, "node-a"), store.ErrNotFound, "CompleteOutbox by the node that lost the lease")
	wantErr(t, s.RetryOutbox(ctx, m.ID, "node-a", at(time.Hour), "late"), store.ErrNotFound,
		"RetryOutbox by the node that lost the lease")
	if got := claim(t, s, "node-c", end.Add(lease/2), lease, 10); len(got) != 0 {
		t.Fatalf("claim during node-b's lease = %+v, want none", got)
	}
	wantDue(t, s, end.Add(lease), "after node-a's attempts")

	must(t, s.CompleteOutbox(ctx, m.ID, "node-b"), "CompleteOutbox by node-b")
	wantNoneDue(t, s, "after CompleteOutbox")
	wantErr(t, s.CompleteOutbox(ctx, m.ID, "node-b"), store.ErrNotFound, "second CompleteOutbox")
	wantErr(t, s.RetryOutbox(ctx, m.ID, "node-b", at(time.Hour), ""), store.ErrNotFound, "RetryOutbox after CompleteOutbox")
	if got := claim(t, s, "node-c", at(time.Hour), lease, 10); len(got) != 0 {
		t.Fatalf("claim after CompleteOutbox = %+v, want none", got)
	}
}

// testOutboxWrongNode: only the node holding a message completes or
// retries it; nobody holds an unclaimed one, not even the empty node id.
func testOutboxWrongNode(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	m1 := sampleMessage("msg_1", "a@example.com", at(0))
	m2 := sampleMessage("msg_2", "b@example.com", at(0))
	queue(t, s, m1)
	queue(t, s, m2)
	if got := claim(t, s, "node-a", now, time.Minute, 10); len(got) != 2 {
		t.Fatalf("claimed %d messages, want 2", len(got))
	}
	m3 := sampleMessage("msg_3", "c@example.com", at(0))
	queue(t, s, m3) // not claimed

	for _, tc := range []struct{ id, node, what string }{
		{m1.ID, "node-b", "another node"},
		{m1.ID, "", "the empty node id"},
		{m1.ID, "NODE-A", "the node id in other case"},
		{"msg_none", "node-a", "an unknown message"},
		{m3.ID, "node-a", "an unclaimed message"},
		{m3.ID, "", "an unclaimed message by the empty node id"},
	} {
		wantErr(t, s.CompleteOutbox(ctx, tc.id, tc.node), store.ErrNotFound, "CompleteOutbox by "+tc.what)
		wantErr(t, s.RetryOutbox(ctx, tc.id, tc.node, at(time.Hour), "x"), store.ErrNotFound, "RetryOutbox by "+tc.what)
	}

	// Nothing changed: node-a still holds m1 and m2, m3 is untouched.
	must(t, s.RetryOutbox(ctx, m2.ID, "node-a", now, "timeout"), "RetryOutbox by the holder")
	wantErr(t, s.CompleteOutbox(ctx, m2.ID, "node-a"), store.ErrNotFound, "CompleteOutbox after releasing it")
	must(t, s.CompleteOutbox(ctx, m1.ID, "node-a"), "CompleteOutbox by the holder")
	m2.Attempts, m2.LastError, m2.NextAttemptAt = 1, "timeout", now
	diff(t, "messages left", []store.OutboxMessage{
		claimed(m3, "node-c", now, time.Minute),
		claimed(m2, "node-c", now, time.Minute),
	}, claim(t, s, "node-c", now, time.Minute, 10))
}

// testOutboxRetry: a retry counts the attempt, keeps the error, releases
// the claim and makes the message due at next.
func testOutboxRetry(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := sampleMessage("msg_1", "a@example.com", at(0))
	queue(t, s, m)
	const lease = time.Minute
	now := at(time.Minute)
	claim(t, s, "node-a", now, lease, 10)

	next := at(3 * time.Minute)
	must(t, s.RetryOutbox(ctx, m.ID, "node-a", next, "smtp: 421 4.7.0 try again later"), "RetryOutbox")
	wantDue(t, s, next, "after RetryOutbox") // not node-a's lease end
	if got := claim(t, s, "node-b", next.Add(-time.Millisecond), lease, 10); len(got) != 0 {
		t.Fatalf("claim before the retry is due = %+v, want none", got)
	}
	m.Attempts, m.LastError, m.NextAttemptAt = 1, "smtp: 421 4.7.0 try again later", next
	diff(t, "claim after the first retry", []store.OutboxMessage{claimed(m, "node-b", next, lease)}, claim(t, s, "node-b", next, lease, 10))

	// Again by the new holder; then at once and with no error.
	next2 := at(5 * time.Minute)
	must(t, s.RetryOutbox(ctx, m.ID, "node-b", next2, "dial tcp: connection refused"), "second RetryOutbox")
	m.Attempts, m.LastError, m.NextAttemptAt = 2, "dial tcp: connection refused", next2
	diff(t, "claim after the second retry", []store.OutboxMessage{claimed(m, "node-a", next2, lease)}, claim(t, s, "node-a", next2, lease, 10))
	must(t, s.RetryOutbox(ctx, m.ID, "node-a", next2, ""), "third RetryOutbox")
	m.Attempts, m.LastError = 3, ""
	diff(t, "claim after the third retry", []store.OutboxMessage{claimed(m, "node-a", next2, lease)}, claim(t, s, "node-a", next2, lease, 10))
	must(t, s.CompleteOutbox(ctx, m.ID, "node-a"), "CompleteOutbox after retries")
	wantNoneDue(t, s, "after CompleteOutbox")
}

// testOutboxLastError: RetryOutbox keeps LastError short and storable
// (store.TrimOutboxError).
func testOutboxLastError(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	long := "550" + strings.Repeat("é", store.MaxOutboxErrorBytes) // an odd prefix: an é straddles the cut
	for i, lastError := range []string{long, "bad \xff byte and \x00 NUL", "short"} {
		m := sampleMessage(fmt.Sprint("msg_", i), "a@example.com", at(0))
		queue(t, s, m)
		claim(t, s, "node-a", now, time.Minute, 1)
		must(t, s.RetryOutbox(ctx, m.ID, "node-a", now, lastError), "RetryOutbox")
		got := claim(t, s, "node-a", now, time.Minute, 1)
		if len(got) != 1 {
			t.Fatalf("claimed %d messages, want 1", len(got))
		}
		want := store.TrimOutboxError(lastError)
		if got[0].LastError != want {
			t.Fatalf("LastError = %q, want %q", got[0].LastError, want)
		}
		if len(want) > store.MaxOutboxErrorBytes || !utf8.ValidString(want) || strings.Contains(want, "\x00") {
			t.Fatalf("TrimOutboxError(%q) = %q: too long, not UTF-8 or with NUL", lastError, want)
		}
		must(t, s.CompleteOutbox(ctx, m.ID, "node-a"), "CompleteOutbox")
	}
	if got := store.TrimOutboxError(long); len(got) != store.MaxOutboxErrorBytes-1 || !strings.HasPrefix(long, got) {
		t.Fatalf("TrimOutboxError of a long error kept %d bytes, want %d (a whole é less)", len(got), store.MaxOutboxErrorBytes-1)
	}
}

// testOutboxNextDue: the earliest of the unclaimed messages' next attempts
// and the claimed ones' lease ends.
func testOutboxNextDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantNoneDue(t, s, "on an empty store")
	m1 := sampleMessage("msg_1", "a@example.com", at(5*time.Minute))
	queue(t, s, m1)
	wantDue(t, s, at(5*time.Minute), "one message due later")
	m2 := sampleMessage("msg_2", "b@example.com", at(2*time.Minute))
	queue(t, s, m2)
	wantDue(t, s, at(2*time.Minute), "the earlier of two")

	claim(t, s, "node-a", at(3*time.Minute), 10*time.Minute, 10) // m2, until 13m
	wantDue(t, s, at(5*time.Minute), "an unclaimed message before a lease end")
	claim(t, s, "node-a", at(5*time.Minute), time.Minute, 10) // m1, until 6m
	wantDue(t, s, at(6*time.Minute), "the earlier of two lease ends")
	must(t, s.RetryOutbox(ctx, m1.ID, "node-a", at(20*time.Minute), "x"), "RetryOutbox")
	wantDue(t, s, at(13*time.Minute), "a lease end before a retry")
	must(t, s.CompleteOutbox(ctx, m2.ID, "node-a"), "CompleteOutbox")
	wantDue(t, s, at(20*time.Minute), "the retry")
	claim(t, s, "node-b", at(20*time.Minute), time.Minute, 10)
	must(t, s.CompleteOutbox(ctx, m1.ID, "node-b"), "CompleteOutbox")
	wantNoneDue(t, s, "after the last message")
}

// testOutboxStats: the count of messages, claimed or not, and the oldest
// one's CreatedAt.
func testOutboxStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantStats := func(n int64, oldest time.Time, what string) {
		t.Helper()
		gotN, gotOldest, err := s.OutboxStats(ctx)
		must(t, err, "OutboxStats "+what)
		if gotN != n || !gotOldest.Equal(oldest) {
			t.Fatalf("OutboxStats %s = %d, %v; want %d, %v", what, gotN, gotOldest, n, oldest)
		}
	}
	wantStats(0, time.Time{}, "on an empty store")
	m1 := sampleMessage("msg_1", "a@example.com", at(time.Minute))
	m1.CreatedAt = at(30 * time.Second)
	queue(t, s, m1)
	m2 := sampleMessage("msg_2", "b@example.com", at(time.Minute))
	m2.CreatedAt = at(10 * time.Second)
	queue(t, s, m2)
	wantStats(2, at(10*time.Second), "two messages")
	claim(t, s, "node-a", at(time.Minute), time.Minute, 10)
	wantStats(2, at(10*time.Second), "both claimed")
	must(t, s.CompleteOutbox(ctx, m2.ID, "node-a"), "CompleteOutbox")
	wantStats(1, at(30*time.Second), "the oldest sent")
	must(t, s.CompleteOutbox(ctx, m1.ID, "node-a"), "CompleteOutbox")
	wantStats(0, time.Time{}, "after both were sent")
}

// testOutboxPurge: PurgeExpired takes outbox messages that expired before
// the cut-off, claimed or not, also beyond one batch, and only those.
func testOutboxPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	cut := at(time.Hour)
	code := sampleCode("code", "a@example.com", "123456")
	code.ExpiresAt = cut.Add(time.Hour) // the code stays
	for i := range 505 {
		// A recipient each: a new code drops the unclaimed message of the same recipient.
		m := sampleMessage(fmt.Sprintf("old_%03d", i), fmt.Sprintf("a%03d@example.com", i), at(0))
		m.ExpiresAt = cut.Add(-time.Duration(i+1) * time.Millisecond)
		must(t, s.PutCode(ctx, code, &m), "PutCode with an expired message")
	}
	held := claim(t, s, "node-a", at(time.Minute), time.Hour, 3)
	boundary := sampleMessage("boundary", "boundary@example.com", at(time.Second))
	boundary.ExpiresAt = cut // not before the cut-off
	live := sampleMessage("live", "live@example.com", at(2*time.Second))
	live.ExpiresAt = cut.Add(time.Hour)
	for _, m := range []store.OutboxMessage{boundary, live} {
		must(t, s.PutCode(ctx, code, &m), "PutCode "+m.ID)
	}

	n, err := s.PurgeExpired(ctx, cut)
	must(t, err, "PurgeExpired")
	if n != 505 {
		t.Errorf("purged %d rows, want 505", n)
	}
	for _, m := range held {
		wantErr(t, s.CompleteOutbox(ctx, m.ID, "node-a"), store.ErrNotFound, "CompleteOutbox of a purged message")
	}
	now := at(time.Minute)
	diff(t, "messages left", []store.OutboxMessage{
		claimed(boundary, "node-b", now, time.Minute),
		claimed(live, "node-b", now, time.Minute),
	}, claim(t, s, "node-b", now, time.Minute, 1000))
	_, err = s.CheckCode(ctx, code.Connection, code.Identifier, code.Hash, now)
	must(t, err, "CheckCode after purge")
	n, err = s.PurgeExpired(ctx, cut)
	must(t, err, "PurgeExpired again")
	if n != 0 {
		t.Errorf("second purge took %d rows, want 0", n)
	}
}

// testOutboxRenew: a node extends every lease it holds (never shortening
// one), and only its own: another node's claim and an unclaimed message
// are left alone; a renewed lease keeps the message from other claimers.
func testOutboxRenew(t *testing.T, s store.Store) {
	ctx := t.Context()
	const lease = 10 * time.Second
	now := at(time.Minute)
	m1, m2, m3 := sampleMessage("msg_1", "a@example.com", at(0)), sampleMessage("msg_2", "b@example.com", at(0)),
		sampleMessage("msg_3", "c@example.com", at(0))
	for _, m := range []store.OutboxMessage{m1, m2, m3} {
		queue(t, s, m)
	}
	if got := claim(t, s, "node-a", now, lease, 2); len(got) != 2 {
		t.Fatalf("claim by node-a = %+v, want 2", got)
	}
	n, err := s.RenewOutbox(ctx, "node-b", now.Add(time.Hour))
	must(t, err, "RenewOutbox by node-b holding nothing")
	if n != 0 {
		t.Fatalf("RenewOutbox by node-b holding nothing = %d", n)
	}
	later := now.Add(lease - time.Second)
	n, err = s.RenewOutbox(ctx, "node-a", later.Add(lease))
	must(t, err, "RenewOutbox by node-a")
	if n != 2 {
		t.Fatalf("RenewOutbox by node-a = %d, want 2", n)
	}
	n, err = s.RenewOutbox(ctx, "node-a", now) // earlier than held: kept
	must(t, err, "RenewOutbox to an earlier time")
	if n != 2 {
		t.Fatalf("RenewOutbox to an earlier time = %d, want 2", n)
	}
	// The first lease has run out, the renewed one has not: only the
	// unclaimed message goes to node-b.
	diff(t, "claim by node-b after node-a's first lease", []store.OutboxMessage{claimed(m3, "node-b", now.Add(lease), lease)},
		claim(t, s, "node-b", now.Add(lease), lease, 10))
	n, err = s.RenewOutbox(ctx, "", at(time.Hour))
	must(t, err, "RenewOutbox by the empty node id")
	if n != 0 {
		t.Fatalf("RenewOutbox by the empty node id = %d", n)
	}
	diff(t, "claim by node-c when the renewed lease ends",
		[]store.OutboxMessage{claimed(m1, "node-c", later.Add(lease), lease), claimed(m2, "node-c", later.Add(lease), lease)},
		claim(t, s, "node-c", later.Add(lease), lease, 10))
}

// testOutboxRelease: a restarting node releases what it held: its messages
// are claimable at once, with their attempts and schedule unchanged;
// another node's claims stay.
func testOutboxRelease(t *testing.T, s store.Store) {
	ctx := t.Context()
	const lease = time.Hour
	now := at(time.Minute)
	m1, m2 := sampleMessage("msg_1", "a@example.com", at(0)), sampleMessage("msg_2", "b@example.com", at(0))
	queue(t, s, m1)
	queue(t, s, m2)
	if got := claim(t, s, "node-a", now, lease, 1); len(got) != 1 || got[0].ID != m1.ID {
		t.Fatalf("claim by node-a = %+v", got)
	}
	must(t, s.RetryOutbox(ctx, m1.ID, "node-a", at(30*time.Second), "421 later"), "RetryOutbox")
	m1.Attempts, m1.LastError, m1.NextAttemptAt = 1, "421 later", at(30*time.Second)
	if got := claim(t, s, "node-b", now, lease, 1); len(got) != 1 || got[0].ID != m2.ID {
		t.Fatalf("claim by node-b = %+v", got)
	}
	if got := claim(t, s, "node-a", now, lease, 1); len(got) != 1 || got[0].ID != m1.ID {
		t.Fatalf("second claim by node-a = %+v", got)
	}
	for _, node := range []string{"", "node-c"} {
		n, err := s.ReleaseOutbox(ctx, node)
		must(t, err, "ReleaseOutbox by "+node)
		if n != 0 {
			t.Fatalf("ReleaseOutbox by %q = %d", node, n)
		}
	}
	n, err := s.ReleaseOutbox(ctx, "node-a")
	must(t, err, "ReleaseOutbox by node-a")
	if n != 1 {
		t.Fatalf("ReleaseOutbox by node-a = %d, want 1", n)
	}
	wantErr(t, s.CompleteOutbox(ctx, m1.ID, "node-a"), store.ErrNotFound, "CompleteOutbox of a released message")
	wantDue(t, s, m1.NextAttemptAt, "after the release")
	diff(t, "claim by node-a again at once", []store.OutboxMessage{claimed(m1, "node-a", now, time.Second)},
		claim(t, s, "node-a", now, time.Second, 10))
}

// testOutboxCompleteMany: one call deletes the messages the node holds
// and leaves every other (another node's, unclaimed, unknown).
func testOutboxCompleteMany(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	for i := range 5 {
		queue(t, s, sampleMessage(fmt.Sprintf("msg_%d", i), fmt.Sprintf("u%d@example.com", i), at(0)))
	}
	if got := claim(t, s, "node-a", now, time.Minute, 3); len(got) != 3 {
		t.Fatalf("node-a claimed %d", len(got))
	}
	if got := claim(t, s, "node-b", now, time.Minute, 1); len(got) != 1 {
		t.Fatalf("node-b claimed %d", len(got))
	}
	// msg_0..2 are node-a's, msg_3 node-b's, msg_4 unclaimed.
	n, err := s.CompleteOutboxMany(ctx, "node-a", []string{"msg_0", "msg_2", "msg_3", "msg_4", "msg_none"})
	must(t, err, "CompleteOutboxMany")
	if n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	if n, err := s.CompleteOutboxMany(ctx, "", []string{"msg_4"}); err != nil || n != 0 {
		t.Errorf("the empty node id: %d %v", n, err)
	}
	if n, err := s.CompleteOutboxMany(ctx, "node-a", nil); err != nil || n != 0 {
		t.Errorf("no ids: %d %v", n, err)
	}
	left, _, err := s.OutboxStats(ctx)
	must(t, err, "OutboxStats")
	if left != 3 {
		t.Errorf("%d messages left, want 3 (msg_1, msg_3, msg_4)", left)
	}
	must(t, s.CompleteOutbox(ctx, "msg_1", "node-a"), "msg_1 is still node-a's")
}
