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

// TestGrantTable checks the grant table's coverage: names and metric names
// are unique, client validation accepts every grant for every application
// type but those in NotFor (and refuses it for those), and the defaults of
// every application type pass validation.
func TestGrantTable(t *testing.T) {
	keys, err := secret.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	apps := []string{tenant.AppNative, tenant.AppSPA, tenant.AppRegularWeb, tenant.AppNonInteractive}
	names, metrics := map[string]bool{}, map[string]bool{}
	table := tenant.GrantTypes()
	if got := tenant.GrantNames(); len(got) != len(table) {
		t.Fatalf("GrantNames %q for %d grants", got, len(table))
	}
	for i, g := range table {
		if g.Name == "" || names[g.Name] || (g.Metric != "" && metrics[g.Metric]) {
			t.Errorf("grant %d: name %q metric %q repeated or empty", i, g.Name, g.Metric)
		}
		names[g.Name], metrics[g.Metric] = true, true
		if tenant.GrantNames()[i] != g.Name || tenant.GrantMetric(g.Name) != g.Metric {
			t.Errorf("%s: GrantNames/GrantMetric disagree with the table", g.Name)
		}
		for _, a := range append(slices.Clone(g.NotFor), g.DefaultFor...) {
			if !slices.Contains(apps, a) {
				t.Errorf("%s: unknown application type %q", g.Name, a)
			}
		}
		for _, a := range apps {
			_, _, err := tenant.BuildClient(keys, tenant.ClientSpec{ClientID: "c", Name: "C", AppType: a, GrantTypes: []string{g.Name}}, nil)
			if refused := slices.Contains(g.NotFor, a); (err != nil) != refused {
				t.Errorf("%s for %s: %v (NotFor %q)", g.Name, a, err, g.NotFor)
			}
		}
	}
	for _, a := range apps {
		c, _, err := tenant.BuildClient(keys, tenant.ClientSpec{ClientID: "c", Name: "C", AppType: a}, nil)
		if err != nil || !slices.Equal(c.GrantTypes, tenant.DefaultGrants(a)) || len(c.GrantTypes) == 0 {
			t.Errorf("%s defaults %q, %v", a, c.GrantTypes, err)
		}
	}
	if tenant.GrantMetric("password") != "" {
		t.Error("an unknown grant has a metric name")
	}
}
