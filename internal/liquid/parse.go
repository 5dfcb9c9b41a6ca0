package liquid

import (
	"fmt"
	"strings"
)

// The AST.

type node any // *textNode, *outputNode, *ifNode, *caseNode, *assignNode

type textNode struct {
	pos int
	s   string
}

type outputNode struct {
	pos int
	val filtered
}

// ifNode is an if or unless block: the branches are tried in order, the
// first whose condition holds (or, for the first branch of unless, does not
// hold) is rendered, else els.
type ifNode struct {
	branches []ifBranch
	els      []node
}

type ifBranch struct {
	cond   condition
	negate bool
	body   []node
}

type caseNode struct {
	subject expr
	whens   []whenBranch
	els     []node
}

type whenBranch struct {
	values []expr
	body   []node
}

type assignNode struct {
	name string
	val  filtered
}

// expr is a literal or a variable lookup.
type expr struct {
	pos  int
	lit  value      // when path is nil
	path []pathPart // a variable: the root name, then lookups
}

// pathPart is one step of a variable lookup: a name (a.b, or the root), or
// a bracketed expression (a["b"], a[key]).
type pathPart struct {
	name  string
	index *expr
	dot   bool // .name: size is a property, not only a key
}

type filtered struct {
	val     expr
	filters []filterCall
}

type filterCall struct {
	pos  int
	name string
	def  *filterDef
	args []expr
	kw   []kwArg
}

type kwArg struct {
	name string
	val  expr
}

// condition is comparisons joined by and/or: ops[i] joins cmps[i] and
// cmps[i+1].
type condition struct {
	cmps []comparison
	ops  []string
}

type comparison struct {
	left  expr
	op    string // "" when the comparison is only left's truthiness
	right expr
}

// Parsing of segments into blocks.

type parser struct {
	src   string
	segs  []segment
	i     int
	depth int
}

func (p *parser) errAt(off int, msg string) error {
	return syntaxErrorAt(p.src, off, msg)
}

// parseBody parses nodes until one of the end tags, which it returns
// (consumed), or until the end of the input, when it returns a nil tag.
func (p *parser) parseBody(ends ...string) ([]node, *segment, error) {
	var nodes []node
	for p.i < len(p.segs) {
		s := &p.segs[p.i]
		p.i++
		switch s.kind {
		case segText:
			nodes = append(nodes, &textNode{pos: s.pos, s: s.text})
		case segOutput:
			n, err := p.parseOutput(s)
			if err != nil {
				return nil, nil, err
			}
			nodes = append(nodes, n)
		case segTag:
			for _, e := range ends {
				if s.name == e {
					return nodes, s, nil
				}
			}
			n, err := p.parseTag(s)
			if err != nil {
				return nil, nil, err
			}
			if n != nil {
				nodes = append(nodes, n)
			}
		}
	}
	return nodes, nil, nil
}

func (p *parser) parseOutput(s *segment) (node, error) {
	ep, err := p.exprParser(s.text, s.mpos)
	if err != nil {
		return nil, err
	}
	n := &outputNode{pos: s.pos}
	if ep.peek().kind == tEOF {
		// {{ }} renders nothing, as in Liquid.
		n.val.val = expr{pos: s.mpos}
		return n, nil
	}
	if n.val, err = ep.parseFiltered(); err != nil {
		return nil, err
	}
	if err := ep.expectEOF("output"); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) parseTag(s *segment) (node, error) {
	switch s.name {
	case "if", "unless":
		return p.parseIf(s)
	case "case":
		return p.parseCase(s)
	case "assign":
		return p.parseAssign(s)
	case "elsif", "else", "endif", "endunless", "when", "endcase", "endraw", "endcomment":
		return nil, p.errAt(s.pos, fmt.Sprintf("unexpected '%s'%s", s.name, p.context()))
	case "":
		return nil, p.errAt(s.apos, "expected a tag name after '{%'")
	default:
		return nil, p.errAt(s.pos, fmt.Sprintf("unknown tag '%s'", clip(s.name)))
	}
}

// context explains where the parser is, for errors about stray tags.
func (p *parser) context() string {
	if p.depth == 0 {
		return " outside any block"
	}
	return ""
}

func (p *parser) enter(s *segment) error {
	if p.depth >= maxDepth {
		return p.errAt(s.pos, fmt.Sprintf("blocks nested more than %d deep", maxDepth))
	}
	p.depth++
	return nil
}

// noArgs checks that an else or end tag has nothing after its name.
func (p *parser) noArgs(s *segment) error {
	if strings.TrimSpace(s.args) == "" {
		return nil
	}
	msg := fmt.Sprintf("'%s' takes no arguments", s.name)
	if s.name == "else" && strings.HasPrefix(strings.TrimSpace(s.args), "if") {
		msg += " (write 'elsif')"
	}
	return p.errAt(s.apos+len(s.args)-len(trimLeftSpace(s.args)), msg)
}

func (p *parser) parseIf(open *segment) (node, error) {
	if err := p.enter(open); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	endName := "end" + open.name
	n := &ifNode{}
	s := open
	for {
		// s is the if, unless or elsif tag opening this branch.
		cond, err := p.parseCondition(s)
		if err != nil {
			return nil, err
		}
		body, end, err := p.parseBody("elsif", "else", endName)
		if err != nil {
			return nil, err
		}
		n.branches = append(n.branches, ifBranch{cond: cond, negate: s == open && open.name == "unless", body: body})
		if end == nil {
			return nil, p.errAt(open.pos, fmt.Sprintf("'%s' tag was never closed by '%s'", open.name, endName))
		}
		switch end.name {
		case "elsif":
			s = end
			continue
		case "else":
			if err := p.noArgs(end); err != nil {
				return nil, err
			}
			els, end2, err := p.parseBody("elsif", "else", endName)
			if err != nil {
				return nil, err
			}
			if end2 == nil {
				return nil, p.errAt(open.pos, fmt.Sprintf("'%s' tag was never closed by '%s'", open.name, endName))
			}
			if end2.name != endName {
				return nil, p.errAt(end2.pos, fmt.Sprintf("unexpected '%s' after 'else'", end2.name))
			}
			end = end2
			n.els = els
		}
		if err := p.noArgs(end); err != nil {
			return nil, err
		}
		return n, nil
	}
}

func (p *parser) parseCase(open *segment) (node, error) {
	if err := p.enter(open); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	ep, err := p.exprParser(open.args, open.apos)
	if err != nil {
		return nil, err
	}
	if ep.peek().kind == tEOF {
		return nil, p.errAt(open.apos, "'case' needs a value")
	}
	n := &caseNode{}
	if n.subject, err = ep.parseValue(); err != nil {
		return nil, err
	}
	if err := ep.expectEOF("'case'"); err != nil {
		return nil, err
	}
	// Whatever comes before the first when is parsed and ignored, as in Liquid.
	_, end, err := p.parseBody("when", "else", "endcase")
	if err != nil {
		return nil, err
	}
	for {
		if end == nil {
			return nil, p.errAt(open.pos, "'case' tag was never closed by 'endcase'")
		}
		switch end.name {
		case "when":
			values, err := p.parseWhen(end)
			if err != nil {
				return nil, err
			}
			var body []node
			body, end, err = p.parseBody("when", "else", "endcase")
			if err != nil {
				return nil, err
			}
			n.whens = append(n.whens, whenBranch{values: values, body: body})
		case "else":
			if err := p.noArgs(end); err != nil {
				return nil, err
			}
			var end2 *segment
			n.els, end2, err = p.parseBody("when", "else", "endcase")
			if err != nil {
				return nil, err
			}
			if end2 == nil {
				return nil, p.errAt(open.pos, "'case' tag was never closed by 'endcase'")
			}
			if end2.name != "endcase" {
				return nil, p.errAt(end2.pos, fmt.Sprintf("unexpected '%s' after 'else'", end2.name))
			}
			end = end2
		case "endcase":
			if err := p.noArgs(end); err != nil {
				return nil, err
			}
			return n, nil
		}
	}
}

// parseWhen parses the values of a when tag: separated by commas or "or".
func (p *parser) parseWhen(s *segment) ([]expr, error) {
	ep, err := p.exprParser(s.args, s.apos)
	if err != nil {
		return nil, err
	}
	if ep.peek().kind == tEOF {
		return nil, p.errAt(s.apos, "'when' needs a value")
	}
	var values []expr
	for {
		v, err := ep.parseValue()
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		t := ep.peek()
		if t.kind == tComma || (t.kind == tIdent && t.s == "or") {
			ep.next()
			continue
		}
		if err := ep.expectEOF("'when'"); err != nil {
			return nil, err
		}
		return values, nil
	}
}

func (p *parser) parseAssign(s *segment) (node, error) {
	ep, err := p.exprParser(s.args, s.apos)
	if err != nil {
		return nil, err
	}
	t := ep.next()
	if t.kind != tIdent {
		return nil, p.errAt(t.pos, "'assign' needs a variable name: {% assign name = value %}")
	}
	if isKeyword(t.s) {
		return nil, p.errAt(t.pos, fmt.Sprintf("cannot assign to '%s'", t.s))
	}
	if eq := ep.next(); eq.kind != tAssign {
		return nil, p.errAt(eq.pos, fmt.Sprintf("expected '=' after 'assign %s', found %s", t.s, describe(eq)))
	}
	if ep.peek().kind == tEOF {
		return nil, p.errAt(ep.peek().pos, "'assign' needs a value after '='")
	}
	val, err := ep.parseFiltered()
	if err != nil {
		return nil, err
	}
	if err := ep.expectEOF("'assign'"); err != nil {
		return nil, err
	}
	return &assignNode{name: t.s, val: val}, nil
}

func (p *parser) parseCondition(s *segment) (condition, error) {
	ep, err := p.exprParser(s.args, s.apos)
	if err != nil {
		return condition{}, err
	}
	if ep.peek().kind == tEOF {
		return condition{}, p.errAt(s.apos, fmt.Sprintf("'%s' needs a condition", s.name))
	}
	var c condition
	for {
		cmp, err := ep.parseComparison()
		if err != nil {
			return condition{}, err
		}
		c.cmps = append(c.cmps, cmp)
		t := ep.peek()
		if t.kind == tIdent && (t.s == "and" || t.s == "or") {
			ep.next()
			c.ops = append(c.ops, t.s)
			continue
		}
		if err := ep.expectEOF(fmt.Sprintf("'%s'", s.name)); err != nil {
			return condition{}, err
		}
		return c, nil
	}
}

// Expressions.

type exprParser struct {
	p     *parser
	toks  []token
	i     int
	depth int // of brackets, a[b[c]]
}

func (p *parser) exprParser(markup string, base int) (*exprParser, error) {
	toks, err := lexExpr(p.src, markup, base)
	if err != nil {
		return nil, err
	}
	return &exprParser{p: p, toks: toks}, nil
}

func (ep *exprParser) peek() token { return ep.toks[ep.i] }

func (ep *exprParser) next() token {
	t := ep.toks[ep.i]
	if t.kind != tEOF {
		ep.i++
	}
	return t
}

func (ep *exprParser) errAt(t token, msg string) error { return ep.p.errAt(t.pos, msg) }

func (ep *exprParser) expectEOF(where string) error {
	t := ep.peek()
	if t.kind == tEOF {
		return nil
	}
	if t.kind == tAssign {
		return ep.errAt(t, "unexpected '=' (compare with '==')")
	}
	if t.kind == tPipe && (where == "'if'" || where == "'unless'" || where == "'elsif'" || where == "'case'" || where == "'when'") {
		return ep.errAt(t, fmt.Sprintf("filters are not allowed in %s", where))
	}
	return ep.errAt(t, fmt.Sprintf("unexpected %s in %s", describe(t), where))
}

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of tag"
	case tString:
		return fmt.Sprintf("string %q", clip(t.s))
	}
	return fmt.Sprintf("'%s'", clip(t.s))
}

func isKeyword(s string) bool {
	switch s {
	case "true", "false", "nil", "null", "empty", "blank":
		return true
	}
	return false
}

// parseValue parses a literal or a variable with its lookups.
func (ep *exprParser) parseValue() (expr, error) {
	t := ep.next()
	e := expr{pos: t.pos}
	switch t.kind {
	case tString:
		e.lit = t.s
		return e, nil
	case tInt:
		e.lit = t.i
		return e, nil
	case tFloat:
		e.lit = t.f
		return e, nil
	case tIdent:
		if isKeyword(t.s) && ep.peek().kind != tDot && ep.peek().kind != tLBrack {
			switch t.s {
			case "true":
				e.lit = true
			case "false":
				e.lit = false
			case "nil", "null":
				e.lit = nil
			case "empty":
				e.lit = emptyValue{}
			case "blank":
				e.lit = blankValue{}
			}
			return e, nil
		}
		e.path = []pathPart{{name: t.s}}
	case tLBrack:
		// ["name"]: a root variable named by an expression.
		ep.i--
	case tOther:
		if t.s == "(" {
			return e, ep.errAt(t, "ranges and parentheses are not supported")
		}
		return e, ep.errAt(t, fmt.Sprintf("unexpected %s", describe(t)))
	default:
		return e, ep.errAt(t, fmt.Sprintf("expected a value, found %s", describe(t)))
	}
	for {
		switch ep.peek().kind {
		case tDot:
			ep.next()
			n := ep.next()
			if n.kind != tIdent {
				return e, ep.errAt(n, fmt.Sprintf("expected a name after '.', found %s", describe(n)))
			}
			e.path = append(e.path, pathPart{name: n.s, dot: true})
		case tLBrack:
			open := ep.next()
			if ep.peek().kind == tRBrack {
				return e, ep.errAt(ep.peek(), "expected a value between '[' and ']'")
			}
			if ep.depth >= maxDepth {
				return e, ep.errAt(open, fmt.Sprintf("brackets nested more than %d deep", maxDepth))
			}
			ep.depth++
			ix, err := ep.parseValue()
			ep.depth--
			if err != nil {
				return e, err
			}
			if r := ep.next(); r.kind != tRBrack {
				return e, ep.errAt(r, fmt.Sprintf("expected ']', found %s", describe(r)))
			}
			e.path = append(e.path, pathPart{index: &ix})
		default:
			return e, nil
		}
	}
}

// parseFiltered parses a value followed by filters.
func (ep *exprParser) parseFiltered() (filtered, error) {
	v, err := ep.parseValue()
	if err != nil {
		return filtered{}, err
	}
	f := filtered{val: v}
	for ep.peek().kind == tPipe {
		ep.next()
		name := ep.next()
		if name.kind != tIdent {
			return filtered{}, ep.errAt(name, fmt.Sprintf("expected a filter name after '|', found %s", describe(name)))
		}
		def, ok := filters[name.s]
		if !ok {
			return filtered{}, ep.errAt(name, fmt.Sprintf("unknown filter '%s'", clip(name.s)))
		}
		call := filterCall{pos: name.pos, name: name.s, def: def}
		if ep.peek().kind == tColon {
			ep.next()
			for {
				t := ep.peek()
				if t.kind == tIdent && ep.toks[ep.i+1].kind == tColon {
					ep.next()
					ep.next()
					if !def.hasKeyword(t.s) {
						return filtered{}, ep.errAt(t, fmt.Sprintf("filter '%s' has no option '%s'", name.s, clip(t.s)))
					}
					v, err := ep.parseValue()
					if err != nil {
						return filtered{}, err
					}
					call.kw = append(call.kw, kwArg{name: t.s, val: v})
				} else {
					if len(call.kw) > 0 {
						return filtered{}, ep.errAt(t, "positional arguments must come before options")
					}
					v, err := ep.parseValue()
					if err != nil {
						return filtered{}, err
					}
					call.args = append(call.args, v)
				}
				if ep.peek().kind != tComma {
					break
				}
				ep.next()
			}
		}
		if n := len(call.args); n < def.min || n > def.max {
			return filtered{}, ep.errAt(name, fmt.Sprintf("filter '%s' takes %s, got %d", name.s, def.arity(), n))
		}
		f.filters = append(f.filters, call)
	}
	return f, nil
}

// parseComparison parses "value", or "value op value".
func (ep *exprParser) parseComparison() (comparison, error) {
	left, err := ep.parseValue()
	if err != nil {
		return comparison{}, err
	}
	c := comparison{left: left}
	t := ep.peek()
	switch {
	case t.kind == tCmp:
	case t.kind == tIdent && t.s == "contains":
	case t.kind == tAssign:
		return comparison{}, ep.errAt(t, "unknown operator '=' (compare with '==')")
	default:
		return c, nil
	}
	ep.next()
	c.op = t.s
	if c.right, err = ep.parseValue(); err != nil {
		return comparison{}, err
	}
	return c, nil
}
