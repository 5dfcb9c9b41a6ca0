package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// usersAdminCases are the administrative user operations of the
// Management API.
var usersAdminCases = []testCase{
	{"Count", testUsersCount},
	{"UpdateFlags", testUsersUpdateFlags},
}

func testUsersCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 3 {
		n, err := s.CountUsers(ctx)
		must(t, err, "CountUsers")
		if n != i {
			t.Fatalf("CountUsers = %d, want %d", n, i)
		}
		must(t, s.CreateUser(ctx, sampleUser(fmt.Sprintf("%024d", i+1), fmt.Sprintf("u%d@example.com", i), at(0))), "CreateUser")
	}
	must(t, s.DeleteUser(ctx, "email|"+fmt.Sprintf("%024d", 1)), "DeleteUser")
	if n, err := s.CountUsers(ctx); err != nil || n != 2 {
		t.Fatalf("CountUsers after a delete = %d, %v; want 2", n, err)
	}
}

func testUsersUpdateFlags(t *testing.T, s store.Store) {
	ctx := t.Context()
	yes, no := true, false
	_, err := s.UpdateUserFlags(ctx, "email|000000000000000000000009", store.UserFlags{Blocked: &yes, At: at(time.Hour)})
	wantErr(t, err, store.ErrNotFound, "UpdateUserFlags missing")

	u := sampleUser("000000000000000000000001", "a@example.com", base())
	u.PhoneVerified = false
	must(t, s.CreateUser(ctx, u), "CreateUser")
	other := sampleUser("000000000000000000000002", "b@example.com", base())
	must(t, s.CreateUser(ctx, other), "CreateUser other")

	steps := []struct {
		name string
		f    store.UserFlags
		want func(*store.User)
	}{
		{"nothing but the time", store.UserFlags{At: at(2 * time.Hour)}, func(u *store.User) {}},
		{"block", store.UserFlags{Blocked: &yes, At: at(3 * time.Hour)}, func(u *store.User) { u.Blocked = true }},
		{"unverify email", store.UserFlags{EmailVerified: &no, At: at(4 * time.Hour)}, func(u *store.User) { u.EmailVerified = false }},
		{"all three", store.UserFlags{Blocked: &no, EmailVerified: &yes, PhoneVerified: &yes, At: at(5 * time.Hour)},
			func(u *store.User) { u.Blocked, u.EmailVerified, u.PhoneVerified = false, true, true }},
	}
	for _, st := range steps {
		got, err := s.UpdateUserFlags(ctx, u.UserID, st.f)
		must(t, err, st.name)
		st.want(&u)
		u.UpdatedAt = st.f.At
		diff(t, st.name+": returned user", u, got)
		stored, err := s.GetUser(ctx, u.UserID)
		must(t, err, st.name+": GetUser")
		diff(t, st.name+": stored user", u, stored)
	}
	got, err := s.GetUser(ctx, other.UserID)
	must(t, err, "GetUser other")
	diff(t, "untouched user", other, got)
}
