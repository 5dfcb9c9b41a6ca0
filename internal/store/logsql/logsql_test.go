package logsql

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

func TestValuesAreBound(t *testing.T) {
	for _, q := range []string{
		`description:*evil'--*`,
		`user_name:"x' OR 1=1 --"`,
		`details.a-b.c:x\'y`,
		`type:[a\'b TO *]`,
		`client_name:ab\'c*d\'ef`,
	} {
		n, err := query.Parse(q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", q, err)
		}
		for _, d := range []Dialect{SQLite, Postgres} {
			c := New(d)
			if err := c.Where(n); err != nil {
				t.Fatalf("Where(%q): %v", q, err)
			}
			if strings.Contains(c.SQL(), "evil") || strings.Contains(c.SQL(), "1=1") ||
				strings.Contains(c.SQL(), "x'y") || strings.Contains(c.SQL(), "a'b") || strings.Contains(c.SQL(), "ab'c") {
				t.Errorf("dialect %d: %q leaked into %s", d, q, c.SQL())
			}
			if len(c.Args) == 0 {
				t.Errorf("dialect %d: %q bound nothing", d, q)
			}
		}
	}
}

func TestEscapes(t *testing.T) {
	tests := []struct{ in, glob, like string }{
		{"plain", "plain", "plain"},
		{"a*b?c[d]e", "a[*]b[?]c[[]d]e", "a*b?c[d]e"},
		{`100%_\`, `100%_\`, `100\%\_\\`},
	}
	for _, tt := range tests {
		if got := globEscape(tt.in); got != tt.glob {
			t.Errorf("globEscape(%q) = %q, want %q", tt.in, got, tt.glob)
		}
		if got := likeEscape(tt.in); got != tt.like {
			t.Errorf("likeEscape(%q) = %q, want %q", tt.in, got, tt.like)
		}
	}
}

func TestCeilMS(t *testing.T) {
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want int64
	}{
		{base, base.UnixMilli()},
		{base.Add(time.Nanosecond), base.UnixMilli() + 1},
		{base.Add(999_999 * time.Nanosecond), base.UnixMilli() + 1},
		{base.Add(-time.Nanosecond), base.UnixMilli()},
	}
	for _, tt := range tests {
		if got := CeilMS(tt.t); got != tt.want {
			t.Errorf("CeilMS(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestObject(t *testing.T) {
	tests := []struct {
		in   string
		want string // "<nil>" for SQL NULL
		err  bool
	}{
		{"", "<nil>", false},
		{" null ", "<nil>", false},
		{`{ "a" : [1, 2] }`, `{"a":[1,2]}`, false},
		{`[1]`, "", true},
		{`"s"`, "", true},
		{`{`, "", true},
	}
	for _, tt := range tests {
		got, err := Object([]byte(tt.in))
		if (err != nil) != tt.err {
			t.Errorf("Object(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		s := "<nil>"
		if got != nil {
			s = *got
		}
		if !tt.err && s != tt.want {
			t.Errorf("Object(%q) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

func TestSortFieldsInStep(t *testing.T) {
	want := slices.Clone(store.LogSortFields)
	slices.Sort(want)
	if got := Sortable(); !slices.Equal(got, want) {
		t.Errorf("sortable fields %v, store.LogSortFields %v", got, want)
	}
	if _, ok := SortColumn("details"); ok {
		t.Error("details is sortable")
	}
}

func TestPlaceholders(t *testing.T) {
	n, err := query.Parse(`details.a:[x TO y] AND type:s`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		d    Dialect
		want string
	}{{SQLite, "?"}, {Postgres, "$"}} {
		c := New(tt.d)
		if err := c.Where(n); err != nil {
			t.Fatal(err)
		}
		for i := range c.Args {
			p := tt.want + strconv.Itoa(i+1)
			if !strings.Contains(c.SQL(), p) {
				t.Errorf("dialect %d: %s lacks %s", tt.d, c.SQL(), p)
			}
		}
	}
}

func TestIsNumber(t *testing.T) {
	for v, want := range map[string]bool{
		"12": true, "-3.5": true, "0": true, "0e5": true, "-0.0": true, "1e10": true, "2.5E-3": true,
		"": false, "abc": false, "1e-99999": false, "1e400": false, "123456789012345678901234567890e-30000": false,
		"01": false, "1.": false, "+1": false, "1 2": false, "NaN": false, "Infinity": false,
	} {
		if got := isNumber(v); got != want {
			t.Errorf("isNumber(%q) = %v, want %v", v, got, want)
		}
	}
}
