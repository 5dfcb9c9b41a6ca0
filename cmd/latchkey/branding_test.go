package main

import (
	"strings"
	"testing"
)

// TestBrandingCommands: branding get/set in every mode.
func TestBrandingCommands(t *testing.T) {
	t.Parallel()
	type branding struct {
		Colors struct {
			Primary        string `json:"primary"`
			PageBackground string `json:"page_background"`
		} `json:"colors"`
		LogoURL    string `json:"logo_url"`
		FaviconURL string `json:"favicon_url"`
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			with := func(args ...string) []string { return append(args, f...) }

			if got := cliJSON[branding](t, with("branding", "get")...); got != (branding{}) {
				t.Fatalf("unset: %+v", got)
			}
			got := cliJSON[branding](t, with("branding", "set", "colors.primary=#0059d6", "colors.page_background=#f0f0f0",
				"logo_url=https://cdn.example.com/logo.png")...)
			if got.Colors.Primary != "#0059d6" || got.Colors.PageBackground != "#f0f0f0" || got.LogoURL != "https://cdn.example.com/logo.png" {
				t.Errorf("set: %+v", got)
			}
			cliOK(t, with("branding", "set", "logo_url=null", "favicon_url=https://cdn.example.com/f.ico")...)
			got = cliJSON[branding](t, with("branding", "get")...)
			if got.LogoURL != "" || got.FaviconURL != "https://cdn.example.com/f.ico" || got.Colors.Primary != "#0059d6" {
				t.Errorf("get after clearing the logo: %+v", got)
			}
			for _, tt := range []struct {
				args []string
				want string
			}{
				{[]string{"logo_url=http://cdn.example.com/logo.png"}, "on property logo_url"},
				{[]string{"colors.primary=blue"}, "on property colors.primary"},
			} {
				out, errOut, code := cli(t, with(append([]string{"branding", "set"}, tt.args...)...)...)
				if code != exitFailure || !strings.Contains(errOut, tt.want) || out != "" {
					t.Errorf("set %v: exit %d, stderr %q (want %q)", tt.args, code, errOut, tt.want)
				}
			}
		})
	}
}
