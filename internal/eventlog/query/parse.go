// Package query parses the tenant-log search language of Auth0's
// GET /api/v2/logs (the q or search parameter), a subset of Lucene's query
// syntax, into an AST that the store compiles to SQL.
//
// # Syntax
//
//	type:s                     field equals value (values are not tokenised)
//	description:"a b"          quoted value: exact, '*' is literal
//	user_name:j*               prefix; *usa suffix; *pass* contains; jane*smith
//	jane                       bare term: matched against DefaultFields
//	date:[2018-12 TO *]        range; '[' ']' inclusive, '{' '}' exclusive, mixable
//	date:2018-12               a date names a period: same as date:[2018-12 TO 2018-12]
//	details.request.method:GET dotted paths below details, location_info, ...
//	_exists_:user_id           field present (also user_id:*)
//	type:(s OR f)              the field applies to every term in the group
//	a AND b, a OR b, NOT a     operators, upper case only; parentheses group
//	a\ b\:c                    backslash escapes the next character
//
// Wildcard terms other than a plain prefix need a literal run of at least 3
// characters (user_name:*usa, not user_name:*sa), as Auth0 requires; they are
// what a trigram index serves. '?', fuzzy '~', boosts '^', and Lucene's
// '+'/'-'/'!'/'&&'/'||' operators are not part of Auth0's documented subset
// and are errors (escape them to search for the characters). After field:,
// ':' is literal (ip:2001:db8::1, date:2019-01-01T01:00:00).
//
// # Operators
//
// Precedence from tightest: NOT, AND, then OR. Adjacent clauses with no
// operator between them are joined by OR, Auth0's (Elasticsearch's) default
// operator: "user_name:(john smith)" means john OR smith. As in Lucene, a
// "NOT x" clause joined by adjacency rather than by an explicit OR excludes its
// matches from its whole adjacency group: "a b NOT c" is (a OR b) AND NOT c and
// "a NOT b" is a AND NOT b. Explicit operators follow ordinary boolean
// precedence: "a OR NOT b" is a OR (NOT b), "a OR b AND c" is a OR (b AND c).
//
// # Limits
//
// So that no input causes unbounded work, a query may have at most MaxLength
// bytes, MaxTerms terms (terms, ranges and existence tests) and MaxDepth levels
// of nesting (parentheses and NOTs, and of the resulting tree), and a term at
// most MaxWildcards wildcards.
package query

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on a query. A query within them parses in time linear in its length.
const (
	// MaxLength caps a query's length in bytes. The HTTP layer should answer
	// a longer one with 414, as Auth0 does.
	MaxLength = 2000
	// MaxDepth caps nesting: of parentheses and NOTs in the text, and of the
	// resulting tree.
	MaxDepth = 32
	// MaxTerms caps the number of terms, ranges and existence tests.
	MaxTerms = 64
	// MaxWildcards caps the number of '*' in one term (runs count once).
	MaxWildcards = 4
)

// ErrTooLong matches (with errors.Is) the *SyntaxError Parse returns for a
// query longer than MaxLength.
var ErrTooLong = errors.New("query: too long")

// SyntaxError reports where and why a query could not be parsed.
type SyntaxError struct {
	// Pos is the byte offset (from 0) where the problem was found; len(q) at
	// the end of the query.
	Pos int
	// Msg says what was wrong.
	Msg string

	tooLong bool
}

// Error returns "at position N: msg".
func (e *SyntaxError) Error() string { return fmt.Sprintf("at position %d: %s", e.Pos, e.Msg) }

// Is reports whether target is ErrTooLong and the query was too long.
func (e *SyntaxError) Is(target error) bool { return target == ErrTooLong && e.tooLong }

// Parse parses a log search query. The error is always a *SyntaxError. An
// empty (or all-blank) query is an error: callers treat an absent q as "no
// filter" before calling Parse.
func Parse(q string) (Node, error) {
	return parse(q, limits{length: MaxLength, depth: MaxDepth, terms: MaxTerms})
}

type limits struct{ length, depth, terms int }

func parse(q string, lim limits) (Node, error) {
	if len(q) > lim.length {
		return nil, &SyntaxError{Pos: lim.length, tooLong: true,
			Msg: fmt.Sprintf("query is too long: %d bytes, at most %d are allowed", len(q), lim.length)}
	}
	for i, r := range q {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(q[i:]); size == 1 {
				return nil, &SyntaxError{Pos: i, Msg: "invalid UTF-8"}
			}
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return nil, &SyntaxError{Pos: i, Msg: fmt.Sprintf("control character %U is not allowed", r)}
		}
	}
	p := &parser{src: q, lim: lim}
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf(p.pos, "empty query")
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		// parseOr stops only at the end or at a ')'.
		return nil, p.errorf(p.pos, "unexpected ')'")
	}
	return n, nil
}

type parser struct {
	src   string
	pos   int
	lim   limits
	depth int // open parentheses and NOTs
	terms int

	// Inside field:( ... ), group is the field every term gets and inGroup
	// is set.
	group   string
	inGroup bool
}

func (p *parser) errorf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\u3000'
}

func (p *parser) peek() (rune, int) { return utf8.DecodeRuneInString(p.src[p.pos:]) }

func (p *parser) skipSpace() {
	for !p.eof() {
		r, size := p.peek()
		if !isSpace(r) {
			return
		}
		p.pos += size
	}
}

// keyword returns the operator (AND, OR, NOT) at the current position, or "".
func (p *parser) keyword() string {
	for _, kw := range [...]string{"AND", "OR", "NOT"} {
		if !strings.HasPrefix(p.src[p.pos:], kw) {
			continue
		}
		end := p.pos + len(kw)
		if end == len(p.src) {
			return kw
		}
		if r, _ := utf8.DecodeRuneInString(p.src[end:]); isSpace(r) || r == '(' || r == ')' || r == '"' {
			return kw
		}
	}
	return ""
}

// enter opens a nesting level (a parenthesis or a NOT) at pos.
func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > p.lim.depth {
		return p.errorf(pos, "query is nested too deeply (at most %d levels)", p.lim.depth)
	}
	return nil
}

// built checks the depth of a newly built operator node.
func (p *parser) built(n Node) (Node, error) {
	if depthOf(n) > p.lim.depth {
		return nil, p.errorf(p.pos, "query is nested too deeply (at most %d levels)", p.lim.depth)
	}
	return n, nil
}

func depthOf(n Node) int {
	d := 0
	switch n := n.(type) {
	case And:
		for _, c := range n.Nodes {
			d = max(d, depthOf(c))
		}
	case Or:
		for _, c := range n.Nodes {
			d = max(d, depthOf(c))
		}
	case Not:
		d = depthOf(n.X)
	}
	return d + 1
}

// leaf counts a term, range or existence test starting at pos.
func (p *parser) leaf(pos int, n Node) (Node, error) {
	p.terms++
	if p.terms > p.lim.terms {
		return nil, p.errorf(pos, "too many terms (at most %d)", p.lim.terms)
	}
	return n, nil
}

func newAnd(nodes ...Node) Node { return flatten(nodes, true) }
func newOr(nodes ...Node) Node  { return flatten(nodes, false) }

func flatten(nodes []Node, and bool) Node {
	var out []Node
	for _, n := range nodes {
		if a, ok := n.(And); ok && and {
			out = append(out, a.Nodes...)
		} else if o, ok := n.(Or); ok && !and {
			out = append(out, o.Nodes...)
		} else {
			out = append(out, n)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	if and {
		return And{Nodes: out}
	}
	return Or{Nodes: out}
}

// clause is one operand of an OR list.
type clause struct {
	n Node
	// not: the operand is a lone "NOT x" (not part of an AND chain, not in
	// parentheses).
	not bool
	// explicitOr: the operand was introduced by the keyword OR rather than
	// by adjacency.
	explicitOr bool
}

// parseOr parses clauses joined by OR or by adjacency:
//
//	or := and ( ["OR"] and )*
func (p *parser) parseOr() (Node, error) {
	var items []clause
	n, not, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	items = append(items, clause{n: n, not: not})
	for {
		p.skipSpace()
		if p.eof() || p.src[p.pos] == ')' {
			break
		}
		explicit := false
		if p.keyword() == "OR" {
			p.pos += len("OR")
			explicit = true
		}
		n, not, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		items = append(items, clause{n: n, not: not, explicitOr: explicit})
	}
	if len(items) == 1 {
		return items[0].n, nil
	}
	// A lone NOT clause touching no explicit OR is an exclusion from the
	// group, as in Lucene.
	var pos, neg []Node
	for i, c := range items {
		if c.not && !c.explicitOr && (i+1 == len(items) || !items[i+1].explicitOr) {
			neg = append(neg, c.n)
		} else {
			pos = append(pos, c.n)
		}
	}
	switch {
	case len(neg) == 0:
		return p.built(newOr(pos...))
	case len(pos) == 0:
		return p.built(newAnd(neg...))
	}
	return p.built(newAnd(append([]Node{newOr(pos...)}, neg...)...))
}

// parseAnd parses unary clauses joined by AND and reports whether the result
// is a lone NOT clause:
//
//	and := unary ( "AND" unary )*
func (p *parser) parseAnd() (Node, bool, error) {
	n, not, err := p.parseUnary()
	if err != nil {
		return nil, false, err
	}
	nodes := []Node{n}
	for {
		p.skipSpace()
		if p.keyword() != "AND" {
			break
		}
		p.pos += len("AND")
		n, _, err := p.parseUnary()
		if err != nil {
			return nil, false, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return n, not, nil
	}
	n, err = p.built(newAnd(nodes...))
	return n, false, err
}

// parseUnary parses a primary with any number of NOTs before it and reports
// whether it started with NOT:
//
//	unary := "NOT" unary | primary
func (p *parser) parseUnary() (Node, bool, error) {
	p.skipSpace()
	if p.keyword() != "NOT" {
		n, err := p.parsePrimary()
		return n, false, err
	}
	if err := p.enter(p.pos); err != nil {
		return nil, false, err
	}
	p.pos += len("NOT")
	x, _, err := p.parseUnary()
	if err != nil {
		return nil, false, err
	}
	p.depth--
	n, err := p.built(Not{X: x})
	return n, true, err
}

// parsePrimary parses a parenthesised query, a quoted phrase, a field:value
// clause or a bare word (in a field group: a value of the group's field).
func (p *parser) parsePrimary() (Node, error) {
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf(p.pos, "unexpected end of query: expected a term")
	}
	start := p.pos
	switch p.src[p.pos] {
	case '(':
		return p.parseParen(p.group, p.inGroup)
	case ')':
		return nil, p.errorf(start, "expected a term, found ')'")
	case '"':
		v, err := p.scanQuoted()
		if err != nil {
			return nil, err
		}
		return p.term(start, p.group, []string{v}, Phrase)
	case '[', '{':
		if !p.inGroup {
			return nil, p.errorf(start, "a range needs a field name, as in date:[2018-12-01 TO *]")
		}
		return p.parseRange(p.group)
	case ']', '}':
		return nil, p.errorf(start, "unexpected %q", p.src[start])
	}
	if kw := p.keyword(); kw != "" {
		return nil, p.errorf(start, "expected a term, found %s", kw)
	}
	if !p.inGroup {
		field, ok, err := p.scanField()
		if err != nil {
			return nil, err
		}
		if ok {
			return p.parseValue(start, field)
		}
	}
	return p.parseWord(p.group)
}

// scanField consumes "name:" if the word at the current position has an
// unescaped ':' and returns the validated name; otherwise it consumes nothing.
func (p *parser) scanField() (string, bool, error) {
	start := p.pos
	if c := p.src[start]; c == '-' || c == '+' || c == '!' {
		return "", false, p.errorf(start, "'%c' is not supported as an operator; use NOT (write \\%c to search for it)", c, c)
	}
	for i := start; i < len(p.src); {
		r, size := utf8.DecodeRuneInString(p.src[i:])
		switch {
		case r == '\\':
			i += size
			if i < len(p.src) {
				_, size = utf8.DecodeRuneInString(p.src[i:])
			}
		case r == ':':
			name := p.src[start:i]
			switch {
			case name == "":
				return "", false, p.errorf(start, "expected a field name before ':'")
			case name != existsField && !ValidField(name):
				return "", false, p.errorf(start, "unknown field %q", name)
			}
			p.pos = i + 1
			return name, true, nil
		case isSpace(r) || strings.ContainsRune(`()"[]{}`, r):
			return "", false, nil
		}
		i += size
	}
	return "", false, nil
}

// parseValue parses what follows "field:"; start is where the field began.
func (p *parser) parseValue(start int, field string) (Node, error) {
	p.skipSpace()
	if field == existsField {
		i := p.pos
		for !p.eof() {
			r, size := p.peek()
			if isSpace(r) || r == '(' || r == ')' {
				break
			}
			p.pos += size
		}
		name := p.src[i:p.pos]
		switch {
		case name == "":
			return nil, p.errorf(i, "expected a field name after %s:", existsField)
		case !validExistsField(name):
			return nil, p.errorf(i, "unknown field %q", name)
		}
		return p.leaf(start, Exists{Field: name})
	}
	if p.eof() {
		return nil, p.errorf(p.pos, "unexpected end of query: expected a value after %q", field+":")
	}
	switch c := p.src[p.pos]; c {
	case '(':
		return p.parseParen(field, true)
	case '[', '{':
		return p.parseRange(field)
	case '"':
		vpos := p.pos
		v, err := p.scanQuoted()
		if err != nil {
			return nil, err
		}
		return p.term(vpos, field, []string{v}, Phrase)
	case ')', ']', '}':
		return nil, p.errorf(p.pos, "expected a value after %q, found %q", field+":", c)
	}
	if kw := p.keyword(); kw != "" {
		return nil, p.errorf(p.pos, "expected a value after %q, found %s (write \\%s to search for the word)", field+":", kw, kw)
	}
	return p.parseWord(field)
}

// parseParen parses "( query )", giving bare terms inside the field if
// inGroup.
func (p *parser) parseParen(field string, inGroup bool) (Node, error) {
	if err := p.enter(p.pos); err != nil {
		return nil, err
	}
	p.pos++
	saveGroup, saveIn := p.group, p.inGroup
	p.group, p.inGroup = field, inGroup
	p.skipSpace()
	if !p.eof() && p.src[p.pos] == ')' {
		return nil, p.errorf(p.pos, "expected a term, found ')'")
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf(p.pos, "expected ')'")
	}
	p.pos++
	p.depth--
	p.group, p.inGroup = saveGroup, saveIn
	return n, nil
}

// scanQuoted consumes a quoted string and returns its unescaped contents.
func (p *parser) scanQuoted() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for !p.eof() {
		r, size := p.peek()
		p.pos += size
		switch r {
		case '"':
			if b.Len() == 0 {
				return "", p.errorf(start, "empty quoted value")
			}
			return b.String(), nil
		case '\\':
			if p.eof() {
				return "", p.errorf(p.pos-1, "'\\' at the end of the query escapes nothing")
			}
			r, size = p.peek()
			p.pos += size
		}
		b.WriteRune(r)
	}
	return "", p.errorf(start, "unterminated quoted value: expected a closing '\"'")
}

// parseWord consumes an unquoted word and returns the term it names. Unescaped
// '*' split the word into the literal parts between wildcards.
func (p *parser) parseWord(field string) (Node, error) {
	start := p.pos
	var parts []string
	var b strings.Builder
	for !p.eof() {
		r, size := p.peek()
		if isSpace(r) || r == '(' || r == ')' || r == '"' {
			break
		}
		switch r {
		case '\\':
			if p.pos+size == len(p.src) {
				return nil, p.errorf(p.pos, "'\\' at the end of the query escapes nothing")
			}
			p.pos += size
			r, size = p.peek()
		case '*':
			parts = append(parts, b.String())
			b.Reset()
			p.pos += size
			continue
		case '[', ']', '{', '}':
			return nil, p.errorf(p.pos, "unexpected %q in a term (write \\%c to search for it)", r, r)
		case '?':
			return nil, p.errorf(p.pos, "the '?' wildcard is not supported; use '*'")
		case '~':
			return nil, p.errorf(p.pos, "fuzzy and proximity searches ('~') are not supported (write \\~ to search for it)")
		case '^':
			return nil, p.errorf(p.pos, "boosts ('^') are not supported (write \\^ to search for it)")
		case ':':
			if p.inGroup {
				return nil, p.errorf(p.pos, "a field name cannot appear inside %s:( ... ) (write \\: or quote the value to search for ':')", field)
			}
		case '-', '+', '!':
			if p.pos == start {
				return nil, p.errorf(p.pos, "'%c' is not supported as an operator; use NOT (write \\%c to search for it)", r, r)
			}
		}
		b.WriteRune(r)
		p.pos += size
	}
	if p.pos == start {
		return nil, p.errorf(start, "expected a term")
	}
	if raw := p.src[start:p.pos]; raw == "&&" || raw == "||" {
		return nil, p.errorf(start, "%q is not supported; use AND or OR", raw)
	}
	return p.term(start, field, append(parts, b.String()), Exact)
}

// term builds the node for a word (parts split at wildcards; kind Exact) or a
// phrase (one part; kind Phrase) compared with field ("" for a bare term).
func (p *parser) term(start int, field string, parts []string, kind Kind) (Node, error) {
	value := parts[0]
	if len(parts) > 1 {
		// Runs of '*' count as one.
		lits := []string{parts[0]}
		for _, s := range parts[1 : len(parts)-1] {
			if s != "" {
				lits = append(lits, s)
			}
		}
		lits = append(lits, parts[len(parts)-1])
		if len(lits)-1 > MaxWildcards {
			return nil, p.errorf(start, "too many wildcards in one term (at most %d)", MaxWildcards)
		}
		head, tail, longest := lits[0], lits[len(lits)-1], 0
		for _, s := range lits {
			longest = max(longest, utf8.RuneCountInString(s))
		}
		switch {
		case longest == 0 && field == "":
			return nil, p.errorf(start, "a lone '*' needs a field name, as in user_id:*")
		case longest == 0:
			return p.leaf(start, Exists{Field: field})
		case field == "date":
			return nil, p.errorf(start, "wildcards are not supported on date; use a range such as date:[2018-12 TO 2019-01-01}")
		case field == "isMobile":
			return nil, p.errorf(start, "wildcards are not supported on isMobile; use true or false")
		case len(lits) == 2 && tail == "":
			kind, value = Prefix, head
		case longest < 3:
			return nil, p.errorf(start, "wildcard term needs at least 3 consecutive characters besides '*' (only a prefix such as j* may be shorter)")
		case len(lits) == 2 && head == "":
			kind, value = Suffix, tail
		case len(lits) == 3 && head == "" && tail == "":
			kind, value = Contains, lits[1]
		default:
			return p.leaf(start, Term{Field: field, Kind: Wildcard, Parts: lits})
		}
		return p.leaf(start, Term{Field: field, Value: value, Kind: kind})
	}
	switch field {
	case "date":
		if _, _, err := ParseDate(value); err != nil {
			return nil, p.errorf(start, "%s", dateMsg(value))
		}
		return p.leaf(start, Range{Field: field, Lo: value, Hi: value, LoInclusive: true, HiInclusive: true})
	case "isMobile":
		if value != "true" && value != "false" {
			return nil, p.errorf(start, "isMobile must be true or false, not %q", value)
		}
	}
	return p.leaf(start, Term{Field: field, Value: value, Kind: kind})
}

func dateMsg(v string) string {
	return fmt.Sprintf("invalid date %q: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss", v)
}

// parseRange parses "[lo TO hi]" (or with '{', '}') for field.
func (p *parser) parseRange(field string) (Node, error) {
	start := p.pos
	if field == "isMobile" {
		return nil, p.errorf(start, "ranges are not supported on isMobile")
	}
	loInc := p.src[p.pos] == '['
	p.pos++
	p.skipSpace()
	loPos := p.pos
	lo, err := p.scanBound()
	if err != nil {
		return nil, err
	}
	n := p.pos
	p.skipSpace()
	if p.pos == n || !strings.HasPrefix(p.src[p.pos:], "TO") {
		return nil, p.errorf(p.pos, "expected TO in the range")
	}
	p.pos += len("TO")
	n = p.pos
	p.skipSpace()
	if p.pos == n {
		return nil, p.errorf(p.pos, "expected a space after TO")
	}
	hiPos := p.pos
	hi, err := p.scanBound()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() || p.src[p.pos] != ']' && p.src[p.pos] != '}' {
		return nil, p.errorf(p.pos, "expected ']' or '}' to close the range")
	}
	hiInc := p.src[p.pos] == ']'
	p.pos++
	if field == "date" {
		for _, b := range [...]struct {
			v   string
			pos int
		}{{lo, loPos}, {hi, hiPos}} {
			if _, _, err := ParseDate(b.v); b.v != "" && err != nil {
				return nil, p.errorf(b.pos, "%s", dateMsg(b.v))
			}
		}
	}
	return p.leaf(start, Range{Field: field, Lo: lo, Hi: hi,
		LoInclusive: loInc && lo != "", HiInclusive: hiInc && hi != ""})
}

// scanBound consumes a range bound: a quoted string, '*' (open, returned as
// ""), or a word ending at a space, ']' or '}'.
func (p *parser) scanBound() (string, error) {
	if p.eof() {
		return "", p.errorf(p.pos, "unexpected end of query: expected a range bound")
	}
	if p.src[p.pos] == '"' {
		return p.scanQuoted()
	}
	start := p.pos
	var b strings.Builder
	for !p.eof() {
		r, size := p.peek()
		if isSpace(r) || r == ']' || r == '}' {
			break
		}
		switch r {
		case '\\':
			if p.pos+size == len(p.src) {
				return "", p.errorf(p.pos, "'\\' at the end of the query escapes nothing")
			}
			p.pos += size
			r, size = p.peek()
		case '*':
			p.pos += size
			if r, _ := p.peek(); start+size != p.pos || !p.eof() && !isSpace(r) && r != ']' && r != '}' {
				return "", p.errorf(p.pos-size, "wildcards are not allowed in a range bound; use '*' alone for an open bound")
			}
			return "", nil
		}
		b.WriteRune(r)
		p.pos += size
	}
	if p.pos == start {
		return "", p.errorf(start, "expected a range bound")
	}
	return b.String(), nil
}
