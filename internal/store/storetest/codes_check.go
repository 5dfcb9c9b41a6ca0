package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// checkCodeCases: CheckCode judges like ConsumeCode but leaves a matching
// code outstanding.
var checkCodeCases = []testCase{
	{"MatchKeepsCode", testCheckCodeMatch},
	{"AttemptsShared", testCheckCodeAttempts},
	{"MatchKeepsAttempts", testCheckCodeKeepsAttempts},
	{"Expired", testCheckCodeExpired},
	{"NotFound", testCheckCodeNotFound},
	{"Concurrent", testCheckCodeConcurrent},
}

func testCheckCodeMatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_1", "a@example.com", "123456")
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	for i := range 2 {
		got, err := s.CheckCode(ctx, c.Connection, c.Identifier, hash("123456"), at(time.Minute))
		must(t, err, fmt.Sprintf("CheckCode #%d", i+1))
		diff(t, "checked code", c, got)
	}
	// The checked code is redeemed exactly once.
	got, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, hash("123456"), at(2*time.Minute))
	must(t, err, "ConsumeCode after CheckCode")
	diff(t, "consumed code", c, got)
	_, err = s.ConsumeCode(ctx, c.Connection, c.Identifier, hash("123456"), at(2*time.Minute))
	wantErr(t, err, store.ErrNotFound, "second ConsumeCode")
	_, err = s.CheckCode(ctx, c.Connection, c.Identifier, hash("123456"), at(2*time.Minute))
	wantErr(t, err, store.ErrNotFound, "CheckCode after ConsumeCode")
}

// testCheckCodeAttempts: wrong codes presented to CheckCode and to
// ConsumeCode count together toward MaxCodeAttempts.
func testCheckCodeAttempts(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_1", "a@example.com", "123456")
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	check := func(code string) error {
		_, err := s.CheckCode(ctx, c.Connection, c.Identifier, hash(code), at(time.Minute))
		return err
	}
	consume := func(code string) error {
		_, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, hash(code), at(time.Minute))
		return err
	}
	steps := []struct {
		name string
		try  func(string) error
		code string
		want error
	}{
		{"CheckCode wrong", check, "000001", store.ErrCodeWrong},
		{"ConsumeCode wrong", consume, "000002", store.ErrCodeWrong},
		{"CheckCode wrong, reaching the cap", check, "000003", store.ErrCodeExhausted},
		{"CheckCode right, afterwards", check, "123456", store.ErrCodeExhausted},
		{"ConsumeCode right, afterwards", consume, "123456", store.ErrCodeExhausted},
	}
	for i, st := range steps {
		wantErr(t, st.try(st.code), st.want, fmt.Sprintf("step %d: %s", i+1, st.name))
	}

	// The same the other way round: the cap reached through ConsumeCode.
	c2 := sampleCode("code_2", "b@example.com", "123456")
	must(t, s.PutCode(ctx, c2, nil), "PutCode 2")
	_, err := s.ConsumeCode(ctx, c2.Connection, c2.Identifier, hash("000001"), at(time.Minute))
	wantErr(t, err, store.ErrCodeWrong, "ConsumeCode wrong on code 2")
	_, err = s.CheckCode(ctx, c2.Connection, c2.Identifier, hash("000002"), at(time.Minute))
	wantErr(t, err, store.ErrCodeWrong, "CheckCode wrong on code 2")
	_, err = s.ConsumeCode(ctx, c2.Connection, c2.Identifier, hash("000003"), at(time.Minute))
	wantErr(t, err, store.ErrCodeExhausted, "ConsumeCode reaching the cap on code 2")
	_, err = s.CheckCode(ctx, c2.Connection, c2.Identifier, c2.Hash, at(time.Minute))
	wantErr(t, err, store.ErrCodeExhausted, "CheckCode right on exhausted code 2")
}

// testCheckCodeKeepsAttempts: a match neither resets nor counts attempts.
func testCheckCodeKeepsAttempts(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_1", "a@example.com", "123456")
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	_, err := s.CheckCode(ctx, c.Connection, c.Identifier, hash("000000"), at(time.Minute))
	wantErr(t, err, store.ErrCodeWrong, "wrong code")
	want := c
	want.Attempts = 1
	for i := range 3 {
		got, err := s.CheckCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute))
		must(t, err, fmt.Sprintf("CheckCode right #%d", i+1))
		diff(t, "checked code", want, got)
	}
	// The matches counted nothing: the code survives MaxCodeAttempts-1
	// wrong codes in all.
	for i := 1; i < store.MaxCodeAttempts-1; i++ {
		_, err = s.CheckCode(ctx, c.Connection, c.Identifier, hash("000000"), at(time.Minute))
		wantErr(t, err, store.ErrCodeWrong, fmt.Sprintf("wrong code %d after the matches", i+1))
	}
	_, err = s.CheckCode(ctx, c.Connection, c.Identifier, hash("000000"), at(time.Minute))
	wantErr(t, err, store.ErrCodeExhausted, "wrong code reaching the cap")
}

func testCheckCodeExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		identifier string
		now        time.Time
		hash       []byte
		want       error
	}{
		{"exact@example.com", at(5 * time.Minute), hash("123456"), store.ErrCodeExpired},
		{"later@example.com", at(time.Hour), hash("123456"), store.ErrCodeExpired},
		{"wrong@example.com", at(time.Hour), hash("000000"), store.ErrCodeExpired},
		{"justbefore@example.com", at(5*time.Minute - time.Millisecond), hash("123456"), nil},
	} {
		c := sampleCode("code_"+tc.identifier, tc.identifier, "123456")
		must(t, s.PutCode(ctx, c, nil), "PutCode")
		_, err := s.CheckCode(ctx, c.Connection, c.Identifier, tc.hash, tc.now)
		if tc.want == nil {
			must(t, err, tc.identifier)
		} else {
			wantErr(t, err, tc.want, tc.identifier)
		}
	}
	// An expired code stays expired for ConsumeCode too.
	_, err := s.ConsumeCode(ctx, "email", "exact@example.com", hash("123456"), at(5*time.Minute))
	wantErr(t, err, store.ErrCodeExpired, "ConsumeCode of the expired code")
}

func testCheckCodeNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.CheckCode(ctx, "email", "a@example.com", hash("123456"), at(0))
	wantErr(t, err, store.ErrNotFound, "CheckCode on an empty store")
	must(t, s.PutCode(ctx, sampleCode("code_1", "a@example.com", "123456"), nil), "PutCode")
	_, err = s.CheckCode(ctx, "sms", "a@example.com", hash("123456"), at(0))
	wantErr(t, err, store.ErrNotFound, "CheckCode other connection")
	_, err = s.CheckCode(ctx, "email", "b@example.com", hash("000000"), at(0))
	wantErr(t, err, store.ErrNotFound, "CheckCode other identifier")
	// Those did not count as attempts on the real code.
	for i := 0; i < store.MaxCodeAttempts-1; i++ {
		_, err = s.CheckCode(ctx, "email", "a@example.com", hash("000000"), at(0))
		wantErr(t, err, store.ErrCodeWrong, "wrong code")
	}
	_, err = s.ConsumeCode(ctx, "email", "a@example.com", hash("123456"), at(0))
	must(t, err, "ConsumeCode")
}

// testCheckCodeConcurrent: concurrent checks with the right code all
// succeed and leave the code for one consumer.
func testCheckCodeConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_1", "a@example.com", "123456")
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	errs := race(racers, func(int) error {
		_, err := s.CheckCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute))
		return err
	})
	if counts := tally(t, errs); counts[nil] != racers {
		t.Fatalf("%d of %d concurrent checks succeeded", counts[nil], racers)
	}
	got, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute))
	must(t, err, "ConsumeCode after the checks")
	diff(t, "consumed code", c, got)
}
