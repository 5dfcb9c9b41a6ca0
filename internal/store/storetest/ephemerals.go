package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// ephemeralCases: short-lived records named by (Kind, Hash).
var ephemeralCases = []testCase{
	{"RoundTrip", testEphemeralRoundTrip},
	{"Kinds", testEphemeralKinds},
	{"Expiry", testEphemeralExpiry},
	{"Conflict", testEphemeralConflict},
	{"ConcurrentTake", testEphemeralConcurrentTake},
	{"BySubject", testEphemeralBySubject},
	{"Purge", testEphemeralPurge},
	{"DeleteUser", testEphemeralDeleteUser},
}

func sampleEphemeral(kind, token, subject string) store.Ephemeral {
	return store.Ephemeral{
		Kind:      kind,
		Hash:      hash(kind + "/" + token),
		ClientID:  "client_a",
		Subject:   subject,
		Data:      []byte(`{"redirect_uri":"https://app.example.com/callback","nonce":"n-0S6_WzA2Mj"}`),
		CreatedAt: at(0),
		ExpiresAt: at(10 * time.Minute),
	}
}

func testEphemeralRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	full := sampleEphemeral("session", "s1", "email|000000000000000000000001")
	// Data comes back byte for byte: not reformatted as JSON, not read.
	full.Data = []byte("{ \"b\": 1,  \"a\": \"\\u00e9\u00e9\" }\n\x00\xff")
	bare := sampleEphemeral("transaction", "t1", "")
	bare.ClientID = ""
	bare.Data = nil

	_, err := s.GetEphemeral(ctx, full.Kind, full.Hash, now)
	wantErr(t, err, store.ErrNotFound, "GetEphemeral on an empty store")
	_, err = s.TakeEphemeral(ctx, full.Kind, full.Hash, now)
	wantErr(t, err, store.ErrNotFound, "TakeEphemeral on an empty store")
	must(t, s.DeleteEphemeral(ctx, full.Kind, full.Hash), "DeleteEphemeral on an empty store")

	for _, e := range []store.Ephemeral{full, bare} {
		must(t, s.PutEphemeral(ctx, e), "PutEphemeral "+e.Kind)
	}
	for _, e := range []store.Ephemeral{full, bare} {
		for i := range 2 { // Get leaves it
			got, err := s.GetEphemeral(ctx, e.Kind, e.Hash, now)
			must(t, err, fmt.Sprintf("GetEphemeral %s #%d", e.Kind, i+1))
			diff(t, "got "+e.Kind, e, got)
		}
	}
	if got, _ := s.GetEphemeral(ctx, full.Kind, full.Hash, now); string(got.Data) != string(full.Data) {
		t.Fatalf("Data = %q, want %q", got.Data, full.Data)
	}
	_, err = s.GetEphemeral(ctx, full.Kind, hash("session/other"), now)
	wantErr(t, err, store.ErrNotFound, "GetEphemeral other hash")

	got, err := s.TakeEphemeral(ctx, full.Kind, full.Hash, now)
	must(t, err, "TakeEphemeral")
	diff(t, "taken", full, got)
	_, err = s.TakeEphemeral(ctx, full.Kind, full.Hash, now)
	wantErr(t, err, store.ErrNotFound, "second TakeEphemeral")
	_, err = s.GetEphemeral(ctx, full.Kind, full.Hash, now)
	wantErr(t, err, store.ErrNotFound, "GetEphemeral after TakeEphemeral")

	must(t, s.DeleteEphemeral(ctx, bare.Kind, bare.Hash), "DeleteEphemeral")
	_, err = s.GetEphemeral(ctx, bare.Kind, bare.Hash, now)
	wantErr(t, err, store.ErrNotFound, "GetEphemeral after DeleteEphemeral")
	must(t, s.DeleteEphemeral(ctx, bare.Kind, bare.Hash), "DeleteEphemeral twice")

	// A taken name can be used again.
	must(t, s.PutEphemeral(ctx, full), "PutEphemeral after TakeEphemeral")
}

// testEphemeralKinds: each kind is its own namespace.
func testEphemeralKinds(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	code := sampleEphemeral("authz_code", "x", "email|000000000000000000000001")
	ticket := code
	ticket.Kind = "login_ticket"
	ticket.Data = []byte(`{"ticket":true}`)
	session := code
	session.Kind = "session"
	must(t, s.PutEphemeral(ctx, code), "PutEphemeral authz_code")
	must(t, s.PutEphemeral(ctx, ticket), "PutEphemeral login_ticket, same hash")
	must(t, s.PutEphemeral(ctx, session), "PutEphemeral session, same hash")

	_, err := s.GetEphemeral(ctx, "transaction", code.Hash, now)
	wantErr(t, err, store.ErrNotFound, "GetEphemeral of a kind not stored")
	got, err := s.TakeEphemeral(ctx, code.Kind, code.Hash, now)
	must(t, err, "TakeEphemeral authz_code")
	diff(t, "taken authz_code", code, got)
	must(t, s.DeleteEphemeral(ctx, session.Kind, session.Hash), "DeleteEphemeral session")
	got, err = s.GetEphemeral(ctx, ticket.Kind, ticket.Hash, now)
	must(t, err, "GetEphemeral login_ticket")
	diff(t, "login_ticket untouched", ticket, got)
}

// testEphemeralExpiry: a record is live while now < ExpiresAt.
func testEphemeralExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := sampleEphemeral("session", "s1", "")
	must(t, s.PutEphemeral(ctx, e), "PutEphemeral")
	got, err := s.GetEphemeral(ctx, e.Kind, e.Hash, e.ExpiresAt.Add(-time.Millisecond))
	must(t, err, "GetEphemeral just before expiry")
	diff(t, "live record", e, got)
	for _, now := range []time.Time{e.ExpiresAt, e.ExpiresAt.Add(time.Hour)} {
		_, err = s.GetEphemeral(ctx, e.Kind, e.Hash, now)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetEphemeral at expiry%+v", now.Sub(e.ExpiresAt)))
	}
	_, err = s.TakeEphemeral(ctx, e.Kind, e.Hash, e.ExpiresAt)
	wantErr(t, err, store.ErrNotFound, "TakeEphemeral at expiry")

	e2 := sampleEphemeral("session", "s2", "")
	must(t, s.PutEphemeral(ctx, e2), "PutEphemeral 2")
	got, err = s.TakeEphemeral(ctx, e2.Kind, e2.Hash, e2.ExpiresAt.Add(-time.Millisecond))
	must(t, err, "TakeEphemeral just before expiry")
	diff(t, "taken record", e2, got)
}

// testEphemeralConflict: a live record keeps its name; an expired one gives
// it up.
func testEphemeralConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := sampleEphemeral("login_ticket", "t1", "email|000000000000000000000001")
	must(t, s.PutEphemeral(ctx, e), "PutEphemeral")

	again := e
	again.Subject = "email|000000000000000000000002"
	again.Data = []byte(`{"other":true}`)
	for _, created := range []time.Time{e.CreatedAt, e.ExpiresAt.Add(-time.Millisecond)} {
		again.CreatedAt, again.ExpiresAt = created, created.Add(10*time.Minute)
		wantErr(t, s.PutEphemeral(ctx, again), store.ErrConflict, fmt.Sprintf("PutEphemeral over a live record at %v", created))
	}
	got, err := s.GetEphemeral(ctx, e.Kind, e.Hash, at(time.Minute))
	must(t, err, "GetEphemeral")
	diff(t, "record after conflicts", e, got)

	// Expired by the new record's creation: replaced.
	again.CreatedAt, again.ExpiresAt = e.ExpiresAt, e.ExpiresAt.Add(10*time.Minute)
	must(t, s.PutEphemeral(ctx, again), "PutEphemeral over an expired record")
	got, err = s.GetEphemeral(ctx, e.Kind, e.Hash, e.ExpiresAt)
	must(t, err, "GetEphemeral replaced")
	diff(t, "replaced record", again, got)
	// The old subject no longer owns it.
	n, err := s.DeleteEphemeralsBySubject(ctx, e.Kind, e.Subject)
	must(t, err, "DeleteEphemeralsBySubject old subject")
	if n != 0 {
		t.Fatalf("DeleteEphemeralsBySubject of the replaced record's subject = %d, want 0", n)
	}
}

func testEphemeralConcurrentTake(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range rounds {
		e := sampleEphemeral("authz_code", fmt.Sprint("c", round), "email|000000000000000000000001")
		must(t, s.PutEphemeral(ctx, e), "PutEphemeral")
		var mu sync.Mutex
		var winners []store.Ephemeral
		errs := race(racers, func(int) error {
			got, err := s.TakeEphemeral(ctx, e.Kind, e.Hash, at(time.Minute))
			if err == nil {
				mu.Lock()
				winners = append(winners, got)
				mu.Unlock()
			}
			return err
		})
		counts := tally(t, errs, store.ErrNotFound)
		if counts[nil] != 1 || counts[store.ErrNotFound] != racers-1 {
			t.Fatalf("round %d, %d concurrent takers: %d succeeded, %d not found; want 1 and %d",
				round, racers, counts[nil], counts[store.ErrNotFound], racers-1)
		}
		diff(t, "winner's record", e, winners[0])
	}
}

func testEphemeralBySubject(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	const alice, bob = "email|000000000000000000000001", "email|000000000000000000000002"
	var alices []store.Ephemeral
	for i := range 3 {
		alices = append(alices, sampleEphemeral("session", fmt.Sprint("a", i), alice))
	}
	kept := []store.Ephemeral{
		sampleEphemeral("session", "b0", bob),
		sampleEphemeral("login_ticket", "a-ticket", alice),
		sampleEphemeral("session", "anonymous", ""),
	}
	for _, e := range append(append([]store.Ephemeral{}, alices...), kept...) {
		must(t, s.PutEphemeral(ctx, e), "PutEphemeral")
	}

	// Listing: alice's live sessions, oldest first; no other kind or subject.
	listed, err := s.ListEphemeralsBySubject(ctx, "session", alice, now)
	must(t, err, "ListEphemeralsBySubject")
	if len(listed) != 3 {
		t.Fatalf("ListEphemeralsBySubject(session, alice) = %d records, want 3", len(listed))
	}
	for _, e := range listed {
		if e.Subject != alice || e.Kind != "session" {
			t.Fatalf("listed %+v", e)
		}
	}
	if l, err := s.ListEphemeralsBySubject(ctx, "session", "", now); err != nil || len(l) != 0 {
		t.Fatalf("ListEphemeralsBySubject with no subject = %d, %v", len(l), err)
	}
	if l, err := s.ListEphemeralsBySubject(ctx, "session", alice, alices[0].ExpiresAt); err != nil || len(l) != 0 {
		t.Fatalf("ListEphemeralsBySubject after expiry = %d, %v", len(l), err)
	}

	n, err := s.DeleteEphemeralsBySubject(ctx, "session", alice)
	must(t, err, "DeleteEphemeralsBySubject")
	if n != 3 {
		t.Fatalf("DeleteEphemeralsBySubject(session, alice) = %d, want 3", n)
	}
	for _, e := range alices {
		_, err := s.GetEphemeral(ctx, e.Kind, e.Hash, now)
		wantErr(t, err, store.ErrNotFound, "alice's session")
	}
	for _, tc := range []struct{ kind, subject string }{
		{"session", alice},   // none left
		{"session", ""},      // no subject matches nothing
		{"transaction", bob}, // no such kind
	} {
		n, err := s.DeleteEphemeralsBySubject(ctx, tc.kind, tc.subject)
		must(t, err, "DeleteEphemeralsBySubject")
		if n != 0 {
			t.Fatalf("DeleteEphemeralsBySubject(%q, %q) = %d, want 0", tc.kind, tc.subject, n)
		}
	}
	for _, e := range kept {
		got, err := s.GetEphemeral(ctx, e.Kind, e.Hash, now)
		must(t, err, fmt.Sprintf("GetEphemeral %s of %q", e.Kind, e.Subject))
		diff(t, "kept record", e, got)
	}
}

// testEphemeralPurge: PurgeExpired takes ephemeral records that expired
// before the cut-off, also beyond one batch, and only those.
func testEphemeralPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	cut := at(time.Hour)
	kinds := []string{"authz_code", "login_ticket", "transaction", "session"}
	for i := range 505 {
		e := sampleEphemeral(kinds[i%len(kinds)], fmt.Sprint("old", i), "")
		e.ExpiresAt = cut.Add(-time.Duration(i+1) * time.Millisecond)
		must(t, s.PutEphemeral(ctx, e), "PutEphemeral expired")
	}
	boundary := sampleEphemeral("session", "boundary", "email|000000000000000000000001")
	boundary.ExpiresAt = cut // not before the cut-off
	live := sampleEphemeral("session", "live", "email|000000000000000000000001")
	live.ExpiresAt = cut.Add(time.Hour)
	must(t, s.PutEphemeral(ctx, boundary), "PutEphemeral boundary")
	must(t, s.PutEphemeral(ctx, live), "PutEphemeral live")

	n, err := s.PurgeExpired(ctx, cut)
	must(t, err, "PurgeExpired")
	if n != 505 {
		t.Errorf("purged %d rows, want 505", n)
	}
	early := at(time.Minute) // before anything expired: only purging can hide a record
	for i := range 505 {
		_, err := s.GetEphemeral(ctx, kinds[i%len(kinds)], hash(kinds[i%len(kinds)]+"/"+fmt.Sprint("old", i)), early)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("purged record %d", i))
	}
	for _, e := range []store.Ephemeral{boundary, live} {
		got, err := s.GetEphemeral(ctx, e.Kind, e.Hash, early)
		must(t, err, "GetEphemeral after purge")
		diff(t, "unpurged record", e, got)
	}
	n, err = s.PurgeExpired(ctx, cut)
	must(t, err, "PurgeExpired again")
	if n != 0 {
		t.Errorf("second purge took %d rows, want 0", n)
	}
}

// testEphemeralDeleteUser: deleting a user deletes their records of every
// kind.
func testEphemeralDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	u := sampleUser("000000000000000000000001", "a@example.com", base())
	other := sampleUser("000000000000000000000002", "b@example.com", base())
	must(t, s.CreateUser(ctx, u), "CreateUser")
	must(t, s.CreateUser(ctx, other), "CreateUser other")
	var gone []store.Ephemeral
	for _, kind := range []string{"authz_code", "login_ticket", "session", "session"} {
		gone = append(gone, sampleEphemeral(kind, fmt.Sprint(len(gone)), u.UserID))
	}
	kept := []store.Ephemeral{
		sampleEphemeral("session", "other", other.UserID),
		sampleEphemeral("transaction", "anonymous", ""),
	}
	for _, e := range append(append([]store.Ephemeral{}, gone...), kept...) {
		must(t, s.PutEphemeral(ctx, e), "PutEphemeral")
	}
	must(t, s.DeleteUser(ctx, u.UserID), "DeleteUser")
	for _, e := range gone {
		_, err := s.GetEphemeral(ctx, e.Kind, e.Hash, now)
		wantErr(t, err, store.ErrNotFound, "record of the deleted user: "+e.Kind)
	}
	for _, e := range kept {
		got, err := s.GetEphemeral(ctx, e.Kind, e.Hash, now)
		must(t, err, "GetEphemeral kept")
		diff(t, "kept record", e, got)
	}
}
