package query

import "strings"

// Node is a node of a parsed query: And, Or, Not, Term, Range or Exists.
//
// String renders the node in the query language, with explicit operators and
// parentheses, so that Parse(n.String()) yields a node equal to n for every n
// that Parse returned.
type Node interface {
	String() string
	node()
}

// And matches events that every node in Nodes matches. Parse flattens nested
// conjunctions and never returns an And with fewer than two nodes.
type And struct {
	Nodes []Node
}

// Or matches events that at least one node in Nodes matches. Parse flattens
// nested disjunctions and never returns an Or with fewer than two nodes.
type Or struct {
	Nodes []Node
}

// Not matches events that X does not match.
type Not struct {
	X Node
}

// Kind says how a Term's value is compared with a field. Log fields are not
// tokenised: every kind compares against the whole stored value, and every
// comparison is case sensitive.
type Kind int

const (
	// Exact: the field equals Value (an unquoted word such as type:s).
	Exact Kind = iota
	// Prefix: the field starts with Value (user_name:j*). Any non-empty
	// Value is allowed.
	Prefix
	// Suffix: the field ends with Value (user_name:*usa). Value has at least
	// 3 characters.
	Suffix
	// Contains: the field contains Value (connection:*pass*). Value has at
	// least 3 characters.
	Contains
	// Phrase: the field equals Value, which was quoted (description:"a b").
	// It matches like Exact, since fields are not tokenised; it stays a
	// separate kind so String reproduces the quotes. A quoted '*' is literal.
	Phrase
	// Wildcard: any other pattern, such as user_name:jane*smith. The field
	// matches Parts[0] + any + Parts[1] + ... + any + Parts[n-1]; an empty
	// first (last) part means the pattern starts (ends) with '*'. Value is
	// empty, and at least one part has 3 or more characters.
	Wildcard
)

var kindNames = [...]string{"Exact", "Prefix", "Suffix", "Contains", "Phrase", "Wildcard"}

// String returns the kind's name, such as "Prefix".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Term compares one field with a value. An empty Field means a bare term,
// matched against each of DefaultFields (an event matches if any of them
// does). Terms on the date field are turned into a Range by Parse.
type Term struct {
	Field string
	Value string
	Kind  Kind
	// Parts holds the literal pieces of a Wildcard pattern; nil otherwise.
	Parts []string
}

// Range matches events whose field lies between Lo and Hi. An empty bound is
// open (written '*'); its Inclusive flag is always false. Bounds of other
// fields compare as strings.
//
// On the date field the bounds are dates accepted by ParseDate, each naming a
// period [start, end); a date matches when it is
//
//	>= start(Lo) if LoInclusive, >= end(Lo) otherwise, and
//	<  end(Hi)   if HiInclusive, <  start(Hi) otherwise,
//
// so date:[2018-12 TO 2018-12] is all of December 2018 and
// date:[* TO 2018-12-19} is everything before that day.
type Range struct {
	Field       string
	Lo, Hi      string
	LoInclusive bool
	HiInclusive bool
}

// Exists matches events in which Field is present and not null. It is written
// _exists_:field, or field:* for a field that can appear in a term.
type Exists struct {
	Field string
}

func (And) node()    {}
func (Or) node()     {}
func (Not) node()    {}
func (Term) node()   {}
func (Range) node()  {}
func (Exists) node() {}

// String renders the conjunction as "a AND b AND c", parenthesising operands
// that are themselves conjunctions or disjunctions.
func (n And) String() string { return join(n.Nodes, " AND ") }

// String renders the disjunction as "a OR b OR c", parenthesising operands
// that are themselves conjunctions or disjunctions.
func (n Or) String() string { return join(n.Nodes, " OR ") }

// String renders the negation as "NOT x".
func (n Not) String() string {
	if n.X == nil {
		return "NOT"
	}
	return "NOT " + operand(n.X)
}

// String renders the term, escaping what the parser would otherwise read as
// syntax.
func (t Term) String() string {
	var b strings.Builder
	if t.Field != "" {
		b.WriteString(t.Field)
		b.WriteByte(':')
	}
	switch t.Kind {
	case Phrase:
		b.WriteByte('"')
		for _, r := range t.Value {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	case Prefix:
		escapeTerm(&b, t.Value, true)
		b.WriteByte('*')
	case Suffix:
		b.WriteByte('*')
		escapeTerm(&b, t.Value, false)
	case Contains:
		b.WriteByte('*')
		escapeTerm(&b, t.Value, false)
		b.WriteByte('*')
	case Wildcard:
		for i, p := range t.Parts {
			if i > 0 {
				b.WriteByte('*')
			}
			escapeTerm(&b, p, i == 0)
		}
	default:
		switch t.Value {
		case "AND", "OR", "NOT", "&&", "||":
			// An operator spelled as a value must be escaped to stay a value.
			b.WriteByte('\\')
			b.WriteString(t.Value)
		default:
			escapeTerm(&b, t.Value, true)
		}
	}
	return b.String()
}

// String renders the range as field:[lo TO hi], with '{' or '}' for exclusive
// bounds and '*' for open ones.
func (r Range) String() string {
	var b strings.Builder
	b.WriteString(r.Field)
	b.WriteByte(':')
	if r.LoInclusive {
		b.WriteByte('[')
	} else {
		b.WriteByte('{')
	}
	escapeBound(&b, r.Lo)
	b.WriteString(" TO ")
	escapeBound(&b, r.Hi)
	if r.HiInclusive {
		b.WriteByte(']')
	} else {
		b.WriteByte('}')
	}
	return b.String()
}

// String renders the test as _exists_:field.
func (e Exists) String() string { return existsField + ":" + e.Field }

func join(nodes []Node, op string) string {
	var b strings.Builder
	for i, n := range nodes {
		if i > 0 {
			b.WriteString(op)
		}
		b.WriteString(operand(n))
	}
	return b.String()
}

// operand renders n as the operand of an operator, in parentheses if it is a
// conjunction or disjunction.
func operand(n Node) string {
	switch n.(type) {
	case And, Or:
		return "(" + n.String() + ")"
	case nil:
		return "()"
	}
	return n.String()
}

// escapeTerm writes s as (part of) an unquoted word, escaping every character
// the word scanner treats as syntax. first says whether s starts the word,
// where '-', '+' and '!' are operators in Lucene and errors here.
func escapeTerm(b *strings.Builder, s string, first bool) {
	for i, r := range s {
		switch {
		case isSpace(r), strings.ContainsRune(`\()[]{}":*?^~`, r),
			first && i == 0 && (r == '-' || r == '+' || r == '!'):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
}

// escapeBound writes a range bound; the empty (open) bound is written '*'.
func escapeBound(b *strings.Builder, s string) {
	if s == "" {
		b.WriteByte('*')
		return
	}
	for _, r := range s {
		if isSpace(r) || strings.ContainsRune(`\*"]}`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
}
