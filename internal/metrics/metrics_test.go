package metrics

import (
	"testing"

	"github.com/latchkey/latchkey/internal/buildinfo"
	"github.com/latchkey/latchkey/internal/tenant"
)

// TestGrantLabels pins the closed set of grant labels: the token grants'
// short names and the browser flows are kept; anything else is "other".
func TestGrantLabels(t *testing.T) {
	m := New(buildinfo.Info{})
	for _, g := range []string{"passwordless_otp", "authorization_code", "refresh_token", "client_credentials",
		"hosted_page", "magic_link", "cross_origin", "password", ""} {
		m.Login("email", g, true)
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "latchkey_logins_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "grant" {
					got[l.GetValue()] += s.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"passwordless_otp": 1, "authorization_code": 1, "refresh_token": 1, "client_credentials": 1,
		"hosted_page": 1, "magic_link": 1, "cross_origin": 1, "other": 2}
	if len(got) != len(want) {
		t.Errorf("grant labels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("grant %q counted %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// TestGrantLabelsCoverTable: every grant the token endpoint exchanges
// (those with a metric name in tenant's grant table) is a label of its own.
func TestGrantLabelsCoverTable(t *testing.T) {
	n := 0
	for _, g := range tenant.GrantTypes() {
		if g.Metric == "" {
			continue
		}
		n++
		if bounded(grants, g.Metric) != g.Metric {
			t.Errorf("grant %s: metric %q is not in the label set", g.Name, g.Metric)
		}
	}
	if n == 0 || len(grants) != n+3 {
		t.Errorf("%d labels for %d token grants and 3 browser flows", len(grants), n)
	}
}
