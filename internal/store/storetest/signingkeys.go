package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// signingKeyCases: signing keys through their life (next → current →
// previous → revoked), with at most one current and one next key whatever
// the callers race.
var signingKeyCases = []testCase{
	{"RoundTrip", testSigningKeys},
	{"OneCurrentOneNext", testSigningKeysUnique},
	{"Families", testSigningKeyFamilies},
	{"Rotate", testSigningKeyRotate},
	{"RotateStale", testSigningKeyRotateStale},
	{"ConcurrentRotate", testSigningKeyConcurrentRotate},
	{"Revoke", testSigningKeyRevoke},
}

func sampleSigningKey(kid string, status store.SigningKeyStatus, created time.Time) store.SigningKey {
	k := store.SigningKey{
		KID:           kid,
		Alg:           "RS256",
		PublicJWK:     []byte(`{"kty":"RSA","kid":"` + kid + `","n":"AQAB","e":"AQAB"}`),
		PrivateSealed: append([]byte{0, 1, 2, 0xff, 0xfe}, hash(kid)...),
		Status:        status,
		CreatedAt:     created,
	}
	switch status {
	case store.KeyCurrent:
		k.CurrentSince = created.Add(time.Minute)
	case store.KeyPrevious:
		k.CurrentSince, k.RetiredAt = created.Add(time.Minute), created.Add(2*time.Minute)
	case store.KeyRevoked:
		k.CurrentSince, k.RetiredAt, k.RevokedAt = created.Add(time.Minute), created.Add(2*time.Minute), created.Add(3*time.Minute)
	}
	return k
}

func createKeys(t *testing.T, s store.Store, keys ...store.SigningKey) {
	t.Helper()
	for _, k := range keys {
		must(t, s.CreateSigningKey(t.Context(), k), "CreateSigningKey "+k.KID)
	}
}

func listKeys(t *testing.T, s store.Store) []store.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(t.Context())
	must(t, err, "ListSigningKeys")
	return keys
}

func testSigningKeys(t *testing.T, s store.Store) {
	if keys := listKeys(t, s); len(keys) != 0 {
		t.Fatalf("ListSigningKeys on an empty store = %d keys", len(keys))
	}
	k1 := sampleSigningKey("kid_1", store.KeyNext, at(2*time.Hour))
	k2 := sampleSigningKey("kid_2", store.KeyRevoked, at(0))
	k3 := sampleSigningKey("kid_3", store.KeyCurrent, at(time.Hour))
	k4 := sampleSigningKey("kid_4", store.KeyPrevious, at(time.Hour)) // same instant: by kid
	createKeys(t, s, k1, k2, k3, k4)
	dup := sampleSigningKey("kid_1", store.KeyPrevious, at(3*time.Hour))
	wantErr(t, s.CreateSigningKey(t.Context(), dup), store.ErrConflict, "duplicate KID")
	diff(t, "signing keys (oldest first)", []store.SigningKey{k2, k3, k4, k1}, listKeys(t, s))
}

// testSigningKeysUnique: a second current or next key is a conflict (two
// nodes that start on an empty store together both try to create them);
// previous and revoked keys are many.
func testSigningKeysUnique(t *testing.T, s store.Store) {
	createKeys(t, s,
		sampleSigningKey("cur", store.KeyCurrent, at(0)),
		sampleSigningKey("nxt", store.KeyNext, at(0)),
		sampleSigningKey("prev_1", store.KeyPrevious, at(0)),
		sampleSigningKey("prev_2", store.KeyPrevious, at(0)),
		sampleSigningKey("rev_1", store.KeyRevoked, at(0)),
		sampleSigningKey("rev_2", store.KeyRevoked, at(0)))
	wantErr(t, s.CreateSigningKey(t.Context(), sampleSigningKey("cur_2", store.KeyCurrent, at(time.Hour))), store.ErrConflict, "a second current key")
	wantErr(t, s.CreateSigningKey(t.Context(), sampleSigningKey("nxt_2", store.KeyNext, at(time.Hour))), store.ErrConflict, "a second next key")
	if n := len(listKeys(t, s)); n != 6 {
		t.Fatalf("%d keys after the refused ones, want 6", n)
	}
}

// testSigningKeyFamilies: each key type (alg) has its own current and next
// key, and rotating one family leaves the other alone.
func testSigningKeyFamilies(t *testing.T, s store.Store) {
	ec := func(k store.SigningKey) store.SigningKey {
		k.Alg, k.PublicJWK = "ES256", []byte(`{"kty":"EC","kid":"`+k.KID+`","crv":"P-256","x":"AQAB","y":"AQAB"}`)
		return k
	}
	rsCur, rsNext := sampleSigningKey("rs_cur", store.KeyCurrent, at(0)), sampleSigningKey("rs_nxt", store.KeyNext, at(0))
	esCur, esNext := ec(sampleSigningKey("es_cur", store.KeyCurrent, at(time.Hour))), ec(sampleSigningKey("es_nxt", store.KeyNext, at(time.Hour)))
	createKeys(t, s, rsCur, rsNext, esCur, esNext)
	wantErr(t, s.CreateSigningKey(t.Context(), ec(sampleSigningKey("es_cur_2", store.KeyCurrent, at(2*time.Hour)))), store.ErrConflict, "a second current ES256 key")

	fresh := ec(sampleSigningKey("es_fresh", "", at(2*time.Hour)))
	now := at(3 * time.Hour)
	promoted, err := s.RotateSigningKey(t.Context(), "es_cur", "es_nxt", fresh, now)
	must(t, err, "RotateSigningKey (ES256)")
	if promoted.KID != "es_nxt" || promoted.Alg != "ES256" {
		t.Fatalf("promoted %s (%s), want es_nxt (ES256)", promoted.KID, promoted.Alg)
	}
	wantEsCur := esCur
	wantEsCur.Status, wantEsCur.RetiredAt = store.KeyPrevious, now
	wantEsNext := esNext
	wantEsNext.Status, wantEsNext.CurrentSince = store.KeyCurrent, now
	fresh.Status = store.KeyNext
	diff(t, "keys after rotating the ES256 family", []store.SigningKey{rsCur, rsNext, wantEsCur, wantEsNext, fresh}, listKeys(t, s))
}

func testSigningKeyRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	prev := sampleSigningKey("prev", store.KeyPrevious, at(0))
	cur := sampleSigningKey("cur", store.KeyCurrent, at(time.Hour))
	nxt := sampleSigningKey("nxt", store.KeyNext, at(2*time.Hour))
	createKeys(t, s, prev, cur, nxt)

	fresh := sampleSigningKey("fresh", "", at(3*time.Hour)) // the store sets the status
	now := at(4 * time.Hour)
	promoted, err := s.RotateSigningKey(ctx, "cur", "nxt", fresh, now)
	must(t, err, "RotateSigningKey")
	wantNxt := nxt
	wantNxt.Status, wantNxt.CurrentSince = store.KeyCurrent, now
	diff(t, "the promoted key", wantNxt, promoted)

	wantCur := cur
	wantCur.Status, wantCur.RetiredAt = store.KeyPrevious, now
	fresh.Status = store.KeyNext
	diff(t, "keys after the rotation", []store.SigningKey{prev, wantCur, wantNxt, fresh}, listKeys(t, s))

	// And again: the fresh key signs, the one that did is previous too.
	later := at(5 * time.Hour)
	promoted, err = s.RotateSigningKey(ctx, "nxt", "fresh", sampleSigningKey("fresher", "", later), later)
	must(t, err, "second RotateSigningKey")
	if promoted.KID != "fresh" || promoted.Status != store.KeyCurrent || !promoted.CurrentSince.Equal(later) {
		t.Fatalf("second rotation promoted %+v", promoted)
	}
	statuses := map[string]store.SigningKeyStatus{}
	for _, k := range listKeys(t, s) {
		statuses[k.KID] = k.Status
	}
	diff(t, "statuses after two rotations", map[string]store.SigningKeyStatus{
		"prev": store.KeyPrevious, "cur": store.KeyPrevious, "nxt": store.KeyPrevious,
		"fresh": store.KeyCurrent, "fresher": store.KeyNext}, statuses)
}

// testSigningKeyRotateStale: a rotation from keys that are no longer the
// current and next ones changes nothing, even when one of them still is
// (the transaction does not keep half of it).
func testSigningKeyRotateStale(t *testing.T, s store.Store) {
	ctx := t.Context()
	createKeys(t, s,
		sampleSigningKey("prev", store.KeyPrevious, at(0)),
		sampleSigningKey("cur", store.KeyCurrent, at(time.Hour)),
		sampleSigningKey("nxt", store.KeyNext, at(2*time.Hour)))
	before := listKeys(t, s)
	for _, tc := range []struct{ cur, next string }{
		{"cur", "prev"},    // current right, next wrong
		{"prev", "nxt"},    // current wrong, next right
		{"nxt", "cur"},     // swapped
		{"cur", "unknown"}, // no such key
		{"unknown", "nxt"},
	} {
		_, err := s.RotateSigningKey(ctx, tc.cur, tc.next, sampleSigningKey("new_"+tc.cur+"_"+tc.next, "", at(3*time.Hour)), at(3*time.Hour))
		wantErr(t, err, store.ErrConflict, fmt.Sprintf("RotateSigningKey(%s, %s)", tc.cur, tc.next))
		diff(t, fmt.Sprintf("keys after RotateSigningKey(%s, %s)", tc.cur, tc.next), before, listKeys(t, s))
	}
}

// testSigningKeyConcurrentRotate: nodes rotating at once from the same
// keys make exactly one rotation: one new current key, one next key.
func testSigningKeyConcurrentRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	createKeys(t, s,
		sampleSigningKey("k_0", store.KeyCurrent, at(0)),
		sampleSigningKey("k_1", store.KeyNext, at(0)))
	cur, next := "k_0", "k_1"
	for round := range rounds {
		now := at(time.Duration(round+1) * time.Hour)
		var mu sync.Mutex
		winner := ""
		errs := race(racers, func(i int) error {
			kid := fmt.Sprintf("k_%d_%d", round, i)
			promoted, err := s.RotateSigningKey(ctx, cur, next, sampleSigningKey(kid, "", now), now)
			if err == nil {
				mu.Lock()
				winner = kid
				mu.Unlock()
				if promoted.KID != next {
					return fmt.Errorf("promoted %s, want %s", promoted.KID, next)
				}
			}
			return err
		})
		counts := tally(t, errs, store.ErrConflict)
		if counts[nil] != 1 {
			t.Fatalf("round %d, %d concurrent rotations: %d succeeded, want 1 (counts %v)", round, racers, counts[nil], counts)
		}
		byStatus := map[store.SigningKeyStatus][]string{}
		for _, k := range listKeys(t, s) {
			byStatus[k.Status] = append(byStatus[k.Status], k.KID)
		}
		if got := byStatus[store.KeyCurrent]; len(got) != 1 || got[0] != next {
			t.Fatalf("round %d: current keys %v, want [%s]", round, got, next)
		}
		if got := byStatus[store.KeyNext]; len(got) != 1 || got[0] != winner {
			t.Fatalf("round %d: next keys %v, want the winner's [%s]", round, got, winner)
		}
		if got := len(byStatus[store.KeyPrevious]); got != round+1 {
			t.Fatalf("round %d: %d previous keys, want %d", round, got, round+1)
		}
		cur, next = next, winner
	}
}

func testSigningKeyRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	prev := sampleSigningKey("prev", store.KeyPrevious, at(0))
	createKeys(t, s, prev,
		sampleSigningKey("cur", store.KeyCurrent, at(time.Hour)),
		sampleSigningKey("nxt", store.KeyNext, at(2*time.Hour)))
	now := at(3 * time.Hour)
	got, err := s.RevokeSigningKey(ctx, "prev", now)
	must(t, err, "RevokeSigningKey of the previous key")
	want := prev
	want.Status, want.RevokedAt = store.KeyRevoked, now
	diff(t, "the revoked key", want, got)

	// Again: as it was, the first revocation's time kept.
	got, err = s.RevokeSigningKey(ctx, "prev", at(4*time.Hour))
	must(t, err, "RevokeSigningKey of a revoked key")
	diff(t, "the key revoked twice", want, got)

	before := listKeys(t, s)
	for _, kid := range []string{"cur", "nxt"} {
		_, err := s.RevokeSigningKey(ctx, kid, now)
		wantErr(t, err, store.ErrConflict, "RevokeSigningKey of the "+kid+" key")
	}
	_, err = s.RevokeSigningKey(ctx, "unknown", now)
	wantErr(t, err, store.ErrNotFound, "RevokeSigningKey of an unknown key")
	diff(t, "keys after the refused revocations", before, listKeys(t, s))
}
