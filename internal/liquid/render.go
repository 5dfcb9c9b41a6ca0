package liquid

import (
	"errors"
	"fmt"
	"strings"
)

type renderer struct {
	t      *Template
	vars   map[string]any
	locals map[string]value // assign's variables, which shadow vars
	out    strings.Builder
	work   int // bytes touched so far; see maxWork
}

func (r *renderer) errAt(off int, msg string) *RenderError {
	line, col := position(r.t.src, off)
	return &RenderError{Line: line, Col: col, Msg: msg}
}

// fits checks that a value of n bytes may be built.
func (r *renderer) fits(n int) error {
	if n > maxOutput {
		return fmt.Errorf("value is larger than %d bytes", maxOutput)
	}
	return nil
}

// charge counts n bytes of work.
func (r *renderer) charge(n int) error {
	r.work += n
	if r.work > maxWork {
		return fmt.Errorf("template processes more than %d bytes", maxWork)
	}
	return nil
}

func (r *renderer) write(off int, s string) error {
	if r.out.Len()+len(s) > maxOutput {
		return r.errAt(off, fmt.Sprintf("output is larger than %d bytes", maxOutput))
	}
	if err := r.charge(len(s)); err != nil {
		return r.errAt(off, err.Error())
	}
	r.out.WriteString(s)
	return nil
}

func (r *renderer) render(nodes []node) error {
	for _, n := range nodes {
		switch n := n.(type) {
		case *textNode:
			if err := r.write(n.pos, n.s); err != nil {
				return err
			}
		case *outputNode:
			v, err := r.evalFiltered(&n.val)
			if err != nil {
				return err
			}
			if err := r.write(n.pos, toString(v)); err != nil {
				return err
			}
		case *ifNode:
			if err := r.renderIf(n); err != nil {
				return err
			}
		case *caseNode:
			if err := r.renderCase(n); err != nil {
				return err
			}
		case *assignNode:
			v, err := r.evalFiltered(&n.val)
			if err != nil {
				return err
			}
			if r.locals == nil {
				r.locals = make(map[string]value)
			}
			r.locals[n.name] = v
		default:
			return r.errAt(0, fmt.Sprintf("internal error: unknown node %T", n))
		}
	}
	return nil
}

func (r *renderer) renderIf(n *ifNode) error {
	for i := range n.branches {
		b := &n.branches[i]
		ok, err := r.evalCondition(&b.cond)
		if err != nil {
			return err
		}
		if ok != b.negate {
			return r.render(b.body)
		}
	}
	return r.render(n.els)
}

// renderCase renders, as Liquid does, the body of every when with a value
// equal to the subject (each body once), or else the else body.
func (r *renderer) renderCase(n *caseNode) error {
	subject, err := r.eval(&n.subject)
	if err != nil {
		return err
	}
	matched := false
	for i := range n.whens {
		w := &n.whens[i]
		for j := range w.values {
			v, err := r.eval(&w.values[j])
			if err != nil {
				return err
			}
			eq, err := r.chargedEqual(subject, v)
			if err != nil {
				return r.errAt(w.values[j].pos, err.Error())
			}
			if eq {
				matched = true
				if err := r.render(w.body); err != nil {
					return err
				}
				break
			}
		}
	}
	if !matched {
		return r.render(n.els)
	}
	return nil
}

// evalCondition evaluates comparisons joined by and/or from right to left,
// as Liquid does: "a and b or c" is "a and (b or c)".
func (r *renderer) evalCondition(c *condition) (bool, error) {
	for i := 0; ; i++ {
		cmp := &c.cmps[i]
		v, err := r.eval(&cmp.left)
		if err != nil {
			return false, err
		}
		ok := truthy(v)
		if cmp.op != "" {
			w, err := r.eval(&cmp.right)
			if err != nil {
				return false, err
			}
			if ok, err = r.compare(cmp.op, v, w); err != nil {
				return false, r.errAt(cmp.left.pos, err.Error())
			}
		}
		if i == len(c.ops) {
			return ok, nil
		}
		if c.ops[i] == "or" && ok {
			return true, nil
		}
		if c.ops[i] == "and" && !ok {
			return false, nil
		}
	}
}

func (r *renderer) evalFiltered(f *filtered) (value, error) {
	v, err := r.eval(&f.val)
	if err != nil {
		return nil, err
	}
	for i := range f.filters {
		c := &f.filters[i]
		args := make([]value, len(c.args))
		for j := range c.args {
			if args[j], err = r.eval(&c.args[j]); err != nil {
				return nil, err
			}
		}
		var kw map[string]value
		if len(c.kw) > 0 {
			kw = make(map[string]value, len(c.kw))
			for _, a := range c.kw {
				if kw[a.name], err = r.eval(&a.val); err != nil {
					return nil, err
				}
			}
		}
		work := 0
		if s, ok := v.(string); ok {
			work += len(s)
		}
		out, err := c.def.fn(r, v, args, kw)
		if err != nil {
			return nil, r.errAt(c.pos, fmt.Sprintf("%s: %v", c.name, err))
		}
		if s, ok := out.(string); ok {
			work += len(s)
			if err := r.fits(len(s)); err != nil {
				return nil, r.errAt(c.pos, fmt.Sprintf("%s: %v", c.name, err))
			}
		}
		if err := r.charge(work); err != nil {
			return nil, r.errAt(c.pos, err.Error())
		}
		v = out
	}
	return v, nil
}

var errUnsupported = errors.New("unsupported type")

// eval evaluates a literal or a variable. Unknown variables are nil.
func (r *renderer) eval(e *expr) (value, error) {
	if e.path == nil {
		return e.lit, nil
	}
	var v value
	for i := range e.path {
		p := &e.path[i]
		key := p.name
		if p.index != nil {
			k, err := r.eval(p.index)
			if err != nil {
				return nil, err
			}
			s, ok := k.(string)
			if !ok {
				return nil, nil // no arrays: only string keys find anything
			}
			key = s
		}
		var raw any
		var found bool
		if i == 0 {
			if raw, found = r.locals[key]; !found {
				raw, found = r.vars[key]
			}
		} else {
			switch m := v.(type) {
			case map[string]any:
				raw, found = m[key]
			case map[string]string:
				raw, found = m[key]
			}
			if !found && p.dot && key == "size" {
				switch v.(type) {
				case string, map[string]any, map[string]string:
					if err := r.charge(len(toString(v))); err != nil {
						return nil, r.errAt(e.pos, err.Error())
					}
					raw, found = size(v), true
				}
			}
		}
		if !found {
			return nil, nil
		}
		var ok bool
		if v, ok = normalize(raw); !ok {
			return nil, r.errAt(e.pos, fmt.Sprintf("variable '%s' has %v %T", pathString(e.path[:i+1]), errUnsupported, raw))
		}
	}
	return v, nil
}

// pathString names a variable for an error message.
func pathString(path []pathPart) string {
	var b strings.Builder
	for i, p := range path {
		switch {
		case p.index != nil:
			b.WriteString("[…]")
		case i > 0:
			b.WriteString(".")
			b.WriteString(p.name)
		default:
			b.WriteString(p.name)
		}
	}
	return clip(b.String())
}
