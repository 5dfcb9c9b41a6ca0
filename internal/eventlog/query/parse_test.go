package query

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func tm(field, value string) Term { return Term{Field: field, Value: value} }

func tk(field, value string, k Kind) Term { return Term{Field: field, Value: value, Kind: k} }

func and(n ...Node) And { return And{Nodes: n} }
func or(n ...Node) Or   { return Or{Nodes: n} }
func not(n Node) Not    { return Not{X: n} }

func day(field, v string) Range {
	return Range{Field: field, Lo: v, Hi: v, LoInclusive: true, HiInclusive: true}
}

var parseTests = []struct {
	name string
	q    string
	want Node
}{
	// Terms.
	{"field value", "type:s", tm("type", "s")},
	{"bare word", "jane", tm("", "jane")},
	{"bare phrase", `"customer log"`, tk("", "customer log", Phrase)},
	{"phrase", `description:"Username invalid"`, tk("description", "Username invalid", Phrase)},
	{"quoted digits", `user_id:"123"`, tk("user_id", "123", Phrase)},
	{"phrase escapes", `description:"say \"hi\" \\ \x"`, tk("description", `say "hi" \ x`, Phrase)},
	{"phrase star literal", `description:"a*"`, tk("description", "a*", Phrase)},
	{"space after colon", "type: s", tm("type", "s")},
	{"colon in value", "ip:2001:db8::1", tm("ip", "2001:db8::1")},
	{"pipe in value", "user_id:auth0|123", tm("user_id", "auth0|123")},
	{"slash and dash in value", "details.request.path:/api/v2/logs-x", tm("details.request.path", "/api/v2/logs-x")},
	{"TO is a word", "TO", tm("", "TO")},
	{"lowercase operators are words", "a and b", or(tm("", "a"), tm("", "and"), tm("", "b"))},
	{"unicode", "user_name:Zoë", tm("user_name", "Zoë")},
	{"ideographic space separates", "a\u3000b", or(tm("", "a"), tm("", "b"))},

	// Escaping.
	{"escaped spaces", `description:Allow\ Connections\ Management\ without\ Options\ Scopes*`,
		tk("description", "Allow Connections Management without Options Scopes", Prefix)},
	{"escaped colon bare", `a\:b`, tm("", "a:b")},
	{"escaped star", `user_name:a\*b`, tm("user_name", "a*b")},
	{"escaped leading dash", `\-x`, tm("", "-x")},
	{"escaped keyword", `\AND`, tm("", "AND")},
	{"escaped keyword value", `type:\NOT`, tm("type", "NOT")},
	{"escaped parens", `description:\(x\)`, tm("description", "(x)")},
	{"escaped brackets", `description:\[x\]`, tm("description", "[x]")},
	{"escaped ampersands", `\&&`, tm("", "&&")},
	{"escaped specials", `a\?\^\~\"\\`, tm("", `a?^~"\`)},

	// Wildcards.
	{"prefix", "user_name:john*", tk("user_name", "john", Prefix)},
	{"short prefix", "type:s*", tk("type", "s", Prefix)},
	{"suffix", "user_name:*usa", tk("user_name", "usa", Suffix)},
	{"contains", "connection:*pass*", tk("connection", "pass", Contains)},
	{"contains multibyte", "user_name:*éèà*", tk("user_name", "éèà", Contains)},
	{"star runs collapse", "user_name:**fred**", tk("user_name", "fred", Contains)},
	{"infix", "user_name:jane*smith", Term{Field: "user_name", Kind: Wildcard, Parts: []string{"jane", "smith"}}},
	{"infix one long part", "user_name:j*smith", Term{Field: "user_name", Kind: Wildcard, Parts: []string{"j", "smith"}}},
	{"pattern", "description:*abc*d*", Term{Field: "description", Kind: Wildcard, Parts: []string{"", "abc", "d", ""}}},
	{"bare prefix", "jan*", tk("", "jan", Prefix)},
	{"four wildcards", "description:*abc*d*e*", Term{Field: "description", Kind: Wildcard, Parts: []string{"", "abc", "d", "e", ""}}},
	{"field star exists", "user_id:*", Exists{Field: "user_id"}},
	{"field stars exists", "user_id:**", Exists{Field: "user_id"}},

	// Existence.
	{"exists", "_exists_:user_id", Exists{Field: "user_id"}},
	{"exists space", "_exists_: user_id", Exists{Field: "user_id"}},
	{"exists object", "_exists_:details", Exists{Field: "details"}},
	{"exists path", "_exists_:details.request.method", Exists{Field: "details.request.method"}},
	{"not exists", "NOT _exists_:user_id", not(Exists{Field: "user_id"})},

	// Fields.
	{"details path", "details.size_exceeded:true", tm("details.size_exceeded", "true")},
	{"details dashed key", "details.body.user-agent:curl*", tk("details.body.user-agent", "curl", Prefix)},
	{"location_info", "location_info.country_code:NZ", tm("location_info.country_code", "NZ")},
	{"auth0_client", "auth0_client.name:auth0.js", tm("auth0_client.name", "auth0.js")},
	{"isMobile", "isMobile:true", tm("isMobile", "true")},
	{"isMobile quoted", `isMobile:"false"`, tk("isMobile", "false", Phrase)},
	{"organization_id", "organization_id:org_1", tm("organization_id", "org_1")},
	{"client_ip", "client_ip:10.0.0.1", tm("client_ip", "10.0.0.1")},

	// Dates and ranges.
	{"date day", "date:2018-12-18", day("date", "2018-12-18")},
	{"date quoted", `date:"2018-12"`, day("date", "2018-12")},
	{"date datetime", "date:2019-01-01T01:00:00", day("date", "2019-01-01T01:00:00")},
	{"date exists", "date:*", Exists{Field: "date"}},
	{"range to open", "date:[2018-12-18 TO *]", Range{Field: "date", Lo: "2018-12-18", LoInclusive: true}},
	{"range from open", "date:[* TO 2018-12-19}", Range{Field: "date", Hi: "2018-12-19"}},
	{"range mixed", "date:[2018-12 TO 2019-01-01}", Range{Field: "date", Lo: "2018-12", Hi: "2019-01-01", LoInclusive: true}},
	{"range exclusive", "date:{2018 TO 2019}", Range{Field: "date", Lo: "2018", Hi: "2019"}},
	{"range mixed other way", "date:{2018 TO 2019]", Range{Field: "date", Lo: "2018", Hi: "2019", HiInclusive: true}},
	{"range datetimes", "date:[2019-01-01T01:00:00 TO 2019-01-01T12:23:45}",
		Range{Field: "date", Lo: "2019-01-01T01:00:00", Hi: "2019-01-01T12:23:45", LoInclusive: true}},
	{"range zone", "date:[2019-01-01T01:00:00.5+02:00 TO 2019-01-02T00:00Z]",
		Range{Field: "date", Lo: "2019-01-01T01:00:00.5+02:00", Hi: "2019-01-02T00:00Z", LoInclusive: true, HiInclusive: true}},
	{"range both open", "date:[* TO *]", Range{Field: "date"}},
	{"range spaces", "date:[  2018   TO\t2019 ]", Range{Field: "date", Lo: "2018", Hi: "2019", LoInclusive: true, HiInclusive: true}},
	{"range strings", "log_id:[900 TO 901]", Range{Field: "log_id", Lo: "900", Hi: "901", LoInclusive: true, HiInclusive: true}},
	{"range quoted bound", `user_name:["a b" TO "c"]`, Range{Field: "user_name", Lo: "a b", Hi: "c", LoInclusive: true, HiInclusive: true}},
	{"range quoted star", `user_name:["*" TO c]`, Range{Field: "user_name", Lo: "*", Hi: "c", LoInclusive: true, HiInclusive: true}},
	{"range escaped bound", `user_name:[a\ b TO c\]]`, Range{Field: "user_name", Lo: "a b", Hi: "c]", LoInclusive: true, HiInclusive: true}},
	{"range bound TO", `user_name:[TO TO TO]`, Range{Field: "user_name", Lo: "TO", Hi: "TO", LoInclusive: true, HiInclusive: true}},

	// Operators and precedence.
	{"and", "type:depnote AND description:*passwordless*",
		and(tm("type", "depnote"), tk("description", "passwordless", Contains))},
	{"depnote query", "type:depnote AND description:*Unpaginated* AND details.size_exceeded:true",
		and(tm("type", "depnote"), tk("description", "Unpaginated", Contains), tm("details.size_exceeded", "true"))},
	{"or", "type:s OR type:f", or(tm("type", "s"), tm("type", "f"))},
	{"implicit or", "type:s type:f", or(tm("type", "s"), tm("type", "f"))},
	{"not", "NOT type:s", not(tm("type", "s"))},
	{"not not", "NOT NOT a", not(not(tm("", "a")))},
	{"and binds tighter", "a OR b AND c", or(tm("", "a"), and(tm("", "b"), tm("", "c")))},
	{"and binds tighter left", "a AND b OR c", or(and(tm("", "a"), tm("", "b")), tm("", "c"))},
	{"implicit at or level", "a b AND c", or(tm("", "a"), and(tm("", "b"), tm("", "c")))},
	{"not binds tightest", "NOT a AND b", and(not(tm("", "a")), tm("", "b"))},
	{"parens", "(a OR b) AND c", and(or(tm("", "a"), tm("", "b")), tm("", "c"))},
	{"nested parens flatten", "((a AND b)) AND (c AND d)", and(tm("", "a"), tm("", "b"), tm("", "c"), tm("", "d"))},
	{"not parens", "NOT (a OR b)", not(or(tm("", "a"), tm("", "b")))},
	{"keyword before paren", "NOT(a)", not(tm("", "a"))},
	{"and before paren", "a AND(b)", and(tm("", "a"), tm("", "b"))},
	{"adjacent phrase", `a"b c"`, or(tm("", "a"), tk("", "b c", Phrase))},
	{"adjacent parens", "(a)(b)", or(tm("", "a"), tm("", "b"))},
	{"or not explicit", "a OR NOT b", or(tm("", "a"), not(tm("", "b")))},
	{"not or explicit", "NOT a OR b", or(not(tm("", "a")), tm("", "b"))},
	{"and not", "a AND NOT b", and(tm("", "a"), not(tm("", "b")))},

	// Lucene's exclusion rule for adjacent NOT clauses.
	{"adjacent not", "a NOT b", and(tm("", "a"), not(tm("", "b")))},
	{"adjacent not group", "a b NOT c", and(or(tm("", "a"), tm("", "b")), not(tm("", "c")))},
	{"adjacent not middle", "a NOT b c", and(or(tm("", "a"), tm("", "c")), not(tm("", "b")))},
	{"leading not", "NOT a b", and(tm("", "b"), not(tm("", "a")))},
	{"only nots", "NOT a NOT b", and(not(tm("", "a")), not(tm("", "b")))},
	{"not beside explicit or", "a OR b NOT c", and(or(tm("", "a"), tm("", "b")), not(tm("", "c")))},
	{"not chained by and", "a NOT b AND c", or(tm("", "a"), and(not(tm("", "b")), tm("", "c")))},
	{"parenthesised not is no exclusion", "a (NOT b)", or(tm("", "a"), not(tm("", "b")))},

	// Field groups.
	{"field group", "type:(s OR f)", or(tm("type", "s"), tm("type", "f"))},
	{"field group implicit", "user_name:(john smith)", or(tm("user_name", "john"), tm("user_name", "smith"))},
	{"field group space", "type: (s f)", or(tm("type", "s"), tm("type", "f"))},
	{"field group nested", "type:(s OR (f AND NOT fp))",
		or(tm("type", "s"), and(tm("type", "f"), not(tm("type", "fp"))))},
	{"field group phrase and wildcard", `description:("a b" OR *rule)`,
		or(tk("description", "a b", Phrase), tk("description", "rule", Suffix))},
	{"field group dates", "date:(2018 OR [2020 TO *])",
		or(day("date", "2018"), Range{Field: "date", Lo: "2020", LoInclusive: true})},
	{"field group star", "user_id:(*)", Exists{Field: "user_id"}},
	{"field group exclusion", "type:(s NOT f)", and(tm("type", "s"), not(tm("type", "f")))},
	{"after field group", "type:(s) ip:1", or(tm("type", "s"), tm("ip", "1"))},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.q, err)
			}
			if !reflect.DeepEqual(tt.want, got) {
				diff := cmp.Diff(tt.want, got)
				t.Fatalf("Parse(%q) (-want +got):\n%s", tt.q, diff)
			}
			checkRoundTrip(t, tt.q, got)
		})
	}
}

var errorTests = []struct {
	name string
	q    string
	pos  int
	msg  string // a substring of the message
}{
	{"empty", "", 0, "empty query"},
	{"blank", "  \t", 3, "empty query"},
	{"unclosed paren", "type:s AND (ip:1 ", 17, "expected ')'"},
	{"unclosed field group", "type:(s", 7, "expected ')'"},
	{"stray close", "a)", 1, "unexpected ')'"},
	{"empty parens", "()", 1, "expected a term, found ')'"},
	{"empty field group", "type:()", 6, "expected a term, found ')'"},
	{"and at start", "AND a", 0, "expected a term, found AND"},
	{"or at start", "OR a", 0, "expected a term, found OR"},
	{"and at end", "a AND", 5, "unexpected end of query: expected a term"},
	{"or at end", "a OR ", 5, "unexpected end of query: expected a term"},
	{"not at end", "a NOT", 5, "unexpected end of query: expected a term"},
	{"double operator", "a AND OR b", 6, "expected a term, found OR"},
	{"and then close", "(a AND)", 6, "expected a term, found ')'"},

	{"unknown field", "foo:bar", 0, `unknown field "foo"`},
	{"unknown field after and", "type:s AND name:x", 11, `unknown field "name"`},
	{"object root", "details:x", 0, `unknown field "details"`},
	{"empty path segment", "details..a:x", 0, "unknown field"},
	{"bad path char", "details.a$b:x", 0, "unknown field"},
	{"path too deep", "details.a.b.c.d.e.f.g.h.i:x", 0, "unknown field"},
	{"raw field", "description.raw:x", 0, "unknown field"},
	{"case sensitive field", "Type:s", 0, "unknown field"},
	{"escaped field", `ty\pe:s`, 0, "unknown field"},
	{"missing field", ":x", 0, "expected a field name before ':'"},
	{"missing value", "type:", 5, "expected a value after \"type:\""},
	{"missing value before close", "(type:)", 6, "expected a value"},
	{"operator as value", "type:AND", 5, `found AND (write \AND`},
	{"exists unknown", "_exists_:foo", 9, `unknown field "foo"`},
	{"exists empty", "_exists_:", 9, "expected a field name after _exists_:"},
	{"exists group", "_exists_:(user_id)", 9, "expected a field name"},
	{"exists quoted", `_exists_:"user_id"`, 9, "unknown field"},
	{"field in group", "type:(s OR ip:1)", 13, "a field name cannot appear inside type:( ... )"},
	{"missing", "_missing_:user_id", 0, "unknown field"},

	{"unterminated quote", `type:"abc`, 5, "unterminated quoted value"},
	{"empty quote", `type:""`, 5, "empty quoted value"},
	{"trailing backslash", `abc\`, 3, "escapes nothing"},
	{"trailing backslash in quote", `"abc\`, 4, "escapes nothing"},
	{"trailing backslash in bound", `user_name:[a TO b\`, 17, "escapes nothing"},

	{"short suffix", "user_name:*sa", 10, "at least 3 consecutive characters"},
	{"short contains", "connection:*pa*", 11, "at least 3 consecutive characters"},
	{"short infix", "user_name:ab*cd", 10, "at least 3 consecutive characters"},
	{"scattered", "user_name:*a*b*c*", 10, "at least 3 consecutive characters"},
	{"bare short suffix", "*ab", 0, "at least 3 consecutive characters"},
	{"lone star", "*", 0, "a lone '*' needs a field name"},
	{"too many wildcards", "description:*abc*d*e*f*", 12, "too many wildcards"},
	{"question mark", "user_name:jo?n", 12, "'?' wildcard is not supported"},
	{"fuzzy", "user_name:john~", 14, "fuzzy"},
	{"boost", "type:s^2", 6, "boosts"},
	{"minus", "-type:s", 0, "'-' is not supported as an operator; use NOT"},
	{"plus", "+type:s", 0, "'+' is not supported"},
	{"bang", "!type:s", 0, "'!' is not supported"},
	{"minus value", "type:-s", 5, "'-' is not supported"},
	{"double ampersand", "a && b", 2, `"&&" is not supported; use AND or OR`},
	{"double pipe", "a || b", 2, `"||" is not supported`},
	{"bracket in word", "user_name:a[b", 11, "unexpected '[' in a term"},
	{"brace in word", "ab}", 2, "unexpected '}' in a term"},
	{"stray bracket", "a ]", 2, "unexpected ']'"},

	{"bare range", "[a TO b]", 0, "a range needs a field name"},
	{"range missing TO", "date:[2018 2019]", 11, "expected TO"},
	{"range lowercase to", "date:[2018 to 2019]", 11, "expected TO"},
	{"range no space before TO", "date:[2018TO 2019]", 13, "expected TO"},
	{"range no space after TO", "date:[2018 TO2019]", 13, "expected a space after TO"},
	{"range unclosed", "date:[2018 TO 2019", 18, "expected ']' or '}'"},
	{"range missing hi", "date:[2018 TO ]", 14, "expected a range bound"},
	{"range missing lo", "user_name:[", 11, "expected a range bound"},
	{"range wildcard bound", "user_name:[a* TO b]", 12, "wildcards are not allowed in a range bound"},
	{"range star prefix", "user_name:[*a TO b]", 11, "wildcards are not allowed in a range bound"},
	{"range bad date", "date:[2018-13 TO *]", 6, `invalid date "2018-13"`},
	{"range bad hi date", "date:[2018 TO yesterday]", 14, `invalid date "yesterday"`},
	{"range empty quoted", `user_name:["" TO b]`, 11, "empty quoted value"},
	{"range extra", "date:[2018 TO 2019 2020]", 19, "expected ']' or '}'"},

	{"bad date", "date:2018-02-30", 5, `invalid date "2018-02-30"`},
	{"date words", "date:today", 5, "invalid date"},
	{"date quoted", `date:"2018-13"`, 5, `invalid date "2018-13"`},
	{"date in group", "date:(2018 OR 2018-1)", 14, `invalid date "2018-1"`},
	{"minus in group", "type:(s -f)", 8, "'-' is not supported"},
	{"date wildcard", "date:2018*", 5, "wildcards are not supported on date"},
	{"isMobile value", "isMobile:yes", 9, "isMobile must be true or false"},
	{"isMobile wildcard", "isMobile:t*", 9, "wildcards are not supported on isMobile"},
	{"isMobile range", "isMobile:[a TO b]", 9, "ranges are not supported on isMobile"},

	{"invalid utf8", "type:\xff", 5, "invalid UTF-8"},
	{"nul", "type:a\x00", 6, "control character U+0000"},
	{"escape", "a\x1b", 1, "control character"},
	{"too long", strings.Repeat("a", MaxLength+1), MaxLength, "query is too long: 2001 bytes, at most 2000"},
	{"too many terms", strings.Repeat("a ", MaxTerms) + "b", 2 * MaxTerms, "too many terms (at most 64)"},
	{"too deep parens", strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1), MaxDepth, "nested too deeply"},
	{"too deep nots", strings.Repeat("NOT ", MaxDepth+1) + "a", 4 * MaxDepth, "nested too deeply"},
	{"deep unclosed", strings.Repeat("(", 1000), MaxDepth, "nested too deeply"},
	{"deep tree", deepTree(MaxDepth), 0, "nested too deeply"},
}

// deepTree builds a query whose parentheses stay within MaxDepth but whose
// tree does not: each level becomes And(Or(...), Not(...)).
func deepTree(levels int) string {
	q := "a"
	for range levels - 1 {
		q = "(" + q + " b NOT c)"
	}
	return q
}

func TestParseErrors(t *testing.T) {
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.q)
			if err == nil {
				t.Fatalf("Parse(%.40q) = %v, want an error", tt.q, n)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%.40q) error %T %v, want *SyntaxError", tt.q, err, err)
			}
			if tt.name == "deep tree" {
				// The position is wherever the limit tripped; only its range matters.
				if se.Pos < 0 || se.Pos > len(tt.q) {
					t.Fatalf("position %d outside the query", se.Pos)
				}
			} else if se.Pos != tt.pos {
				t.Errorf("Parse(%.40q) position = %d, want %d (%v)", tt.q, se.Pos, tt.pos, err)
			}
			if !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%.40q) message = %q, want it to contain %q", tt.q, se.Msg, tt.msg)
			}
			if want := "at position "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), want)
			}
			if got, want := errors.Is(err, ErrTooLong), tt.name == "too long"; got != want {
				t.Errorf("errors.Is(err, ErrTooLong) = %v, want %v", got, want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse("type:s AND (ip:1 ")
	if got, want := err.Error(), "at position 17: expected ')'"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestLimitsAccepted(t *testing.T) {
	for name, q := range map[string]string{
		"max terms":  strings.TrimSpace(strings.Repeat("a ", MaxTerms)),
		"max parens": strings.Repeat("(", MaxDepth-1) + "a" + strings.Repeat(")", MaxDepth-1),
		"max nots":   strings.Repeat("NOT ", MaxDepth-1) + "a",
		"max length": strings.Repeat("a", MaxLength),
	} {
		if _, err := Parse(q); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		n    Node
		want string
	}{
		{tm("type", "s"), "type:s"},
		{tm("", "a:b c"), `a\:b\ c`},
		{tm("", "AND"), `\AND`},
		{tm("type", "||"), `type:\||`},
		{tm("", "-x+y"), `\-x+y`},
		{tk("description", `say "hi" \`, Phrase), `description:"say \"hi\" \\"`},
		{tk("user_name", "-jo", Prefix), `user_name:\-jo*`},
		{tk("user_name", "usa", Suffix), "user_name:*usa"},
		{tk("connection", "a*b", Contains), `connection:*a\*b*`},
		{Term{Field: "user_name", Kind: Wildcard, Parts: []string{"jane", "smith"}}, "user_name:jane*smith"},
		{Range{Field: "date", Lo: "2018", LoInclusive: true}, "date:[2018 TO *}"},
		{Range{Field: "user_name", Lo: "*", Hi: "a b]", HiInclusive: true}, `user_name:{\* TO a\ b\]]`},
		{Exists{Field: "details"}, "_exists_:details"},
		{or(and(tm("", "a"), tm("", "b")), not(or(tm("", "c"), tm("", "d")))), "(a AND b) OR NOT (c OR d)"},
		{not(not(tm("", "a"))), "NOT NOT a"},
	}
	for _, tt := range tests {
		if got := tt.n.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	if got := Contains.String(); got != "Contains" {
		t.Errorf("Contains.String() = %q", got)
	}
	if got := Kind(99).String(); got != "Kind(?)" {
		t.Errorf("Kind(99).String() = %q", got)
	}
}

func TestFields(t *testing.T) {
	for _, f := range Fields() {
		if !ValidField(f) {
			t.Errorf("ValidField(%q) = false", f)
		}
	}
	for _, f := range DefaultFields() {
		if !ValidField(f) {
			t.Errorf("default field %q is not valid", f)
		}
	}
	for _, f := range ObjectFields() {
		if ValidField(f) || !ValidField(f+".x") || !validExistsField(f) {
			t.Errorf("object field %q: root must be exists-only, paths valid", f)
		}
	}
	if ValidField("details." + strings.Repeat("a", MaxFieldLength)) {
		t.Error("over-long path accepted")
	}
	// The returned slices are copies.
	Fields()[0] = "x"
	if ValidField("x") {
		t.Error("Fields returned the allow-list itself")
	}
}

// checkRoundTrip asserts that n's String re-parses to n. The text may be
// longer than the query (group expansion, escapes, explicit operators), so
// the length limit is lifted; depth and term limits stay.
func checkRoundTrip(t *testing.T, q string, n Node) {
	t.Helper()
	s := n.String()
	again, err := parse(s, limits{length: max(len(s), MaxLength), depth: MaxDepth, terms: MaxTerms})
	if err != nil {
		t.Fatalf("query %q: String() = %q does not parse: %v", q, s, err)
	}
	// reflect.DeepEqual, not cmp.Diff: go-cmp's slice diffing re-compares
	// subtrees and takes exponential time on deep trees.
	if !reflect.DeepEqual(n, again) {
		t.Fatalf("query %q: String() = %q re-parses differently:\nfirst %#v\nagain %#v", q, s, n, again)
	}
}

func BenchmarkParse(b *testing.B) {
	q := `type:(s OR f) AND date:[2018-12 TO 2019-01-01} AND user_name:*fred* AND NOT description:"Username invalid"`
	for b.Loop() {
		if _, err := Parse(q); err != nil {
			b.Fatal(err)
		}
	}
}
