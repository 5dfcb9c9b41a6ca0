package passwordless

import "testing"

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a@example.com", "a@example.com", true},
		{"Alice.Smith+tag@Example.COM", "alice.smith+tag@example.com", true},
		{"not-an-email", "", false},
		{"a@localhost", "", false},
		{"a@.com", "", false},
		{"a@example.", "", false},
		{"Alice <a@example.com>", "", false},
		{"a b@example.com", "", false},
		{"@example.com", "", false},
		{"a@@example.com", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
