package tenant_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/tenant"
)

const otp = "http://auth0.com/oauth/grant-type/passwordless/otp"

// TestBuildClientGrantRules pins client validation's grant rules (the
// tenant file and the Management API both validate with BuildClient): the
// grant types it knows, the ones an application type may not have, and the
// defaults of an application that names none.
func TestBuildClientGrantRules(t *testing.T) {
	keys, err := secret.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	build := func(appType string, grants []string) ([]string, error) {
		c, _, err := tenant.BuildClient(keys, tenant.ClientSpec{ClientID: "c", Name: "C", AppType: appType, GrantTypes: grants}, nil)
		return c.GrantTypes, err
	}
	known := []string{"authorization_code", "implicit", otp, "refresh_token", "client_credentials"}
	for _, appType := range []string{"regular_web", "non_interactive", "native", "spa"} {
		for _, g := range known {
			_, err := build(appType, []string{g})
			switch {
			case appType == "spa" && g == otp:
				if err == nil || err.Error() != `grant_types[0]: "`+otp+`" cannot be enabled for single-page applications` {
					t.Errorf("%s %s: %v", appType, g, err)
				}
			case err != nil:
				t.Errorf("%s %s: %v", appType, g, err)
			}
		}
	}
	if _, err := build("regular_web", []string{"refresh_token", "password"}); err == nil || err.Error() != `grant_types[1]: unknown grant type "password"` {
		t.Errorf("unknown grant: %v", err)
	}
	for appType, want := range map[string][]string{
		"regular_web":     {"authorization_code", "implicit", "refresh_token", "client_credentials"},
		"non_interactive": {"authorization_code", "implicit", "refresh_token", "client_credentials"},
		"native":          {"authorization_code", "implicit", "refresh_token"},
		"spa":             {"authorization_code", "implicit", "refresh_token"},
	} {
		got, err := build(appType, nil)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s defaults %q, %v; want %q", appType, got, err, want)
		}
	}
	if got, err := build("regular_web", []string{}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("an empty list stays empty: %q, %v", got, err)
	}
}
