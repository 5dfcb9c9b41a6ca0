package protect

import "testing"

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":               "203.0.113.7",
		"::ffff:203.0.113.7":        "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":           "2001:db8:1:3::/64",
		"not an ip":                 "not an ip",
	} {
		if got := IPKey(in); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAllowlisted(t *testing.T) {
	list := []string{"192.0.2.0/24", "2001:db8::1"}
	for ip, want := range map[string]bool{"192.0.2.77": true, "::ffff:192.0.2.1": true, "192.0.3.1": false,
		"2001:db8::1": true, "2001:db8::2": false, "junk": false} {
		if got := allowlisted(list, ip); got != want {
			t.Errorf("allowlisted(%q) = %v", ip, got)
		}
	}
}
