package query

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is a
// *SyntaxError positioned inside the query, and that every result's String
// re-parses to an equal AST. Its seeds are every query of the table tests.
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.q)
	}
	for _, tt := range errorTests {
		f.Add(tt.q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := Parse(q)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v, want *SyntaxError", q, err, err)
			}
			if se.Pos < 0 || se.Pos > len(q) {
				t.Fatalf("Parse(%q) error position %d outside [0, %d]", q, se.Pos, len(q))
			}
			if n != nil {
				t.Fatalf("Parse(%q) returned both %v and %v", q, n, err)
			}
			return
		}
		if n == nil {
			t.Fatalf("Parse(%q) returned neither a node nor an error", q)
		}
		checkRoundTrip(t, q, n)
	})
}
