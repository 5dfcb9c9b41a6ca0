// Package liquid implements the subset of Shopify Liquid that Auth0's
// passwordless email and SMS templates use. Tenant administrators write these
// templates, so Parse treats its input as untrusted: the work and memory of
// parsing and rendering are bounded, no input panics, and every problem is an
// error that names its line and column.
//
// # Syntax
//
//	text                                   copied as is
//	{{ expr | filter | filter: arg, ... }} output
//	{% if cond %} {% elsif cond %} {% else %} {% endif %}
//	{% unless cond %} {% else %} {% endunless %}
//	{% case expr %} {% when v1, v2 or v3 %} {% else %} {% endcase %}
//	{% assign name = expr | filter %}
//	{% comment %} ... {% endcomment %}     not rendered (comments nest)
//	{% raw %} ... {% endraw %}             copied without interpretation
//	{% # text %}                           inline comment
//	{{- -}} {%- -%}                        strip the whitespace before / after
//
// Expressions are variables with dotted paths (application.name, a["b"],
// a.size), strings in single or double quotes (no escapes, as in Liquid),
// integers, floats, true, false, nil (or null), empty and blank. Conditions
// compare two expressions with ==, !=, <>, <, >, <=, >= or contains, and join
// comparisons with and/or, which Liquid evaluates from right to left without
// precedence: "a or b and c" is "a or (b and c)", "a and b or c" is
// "a and (b or c)". Only false and nil are falsy. As in Liquid, case renders
// the body of every when that matches, or else the else body.
//
// Filters: upcase, downcase, capitalize, default (with allow_false: true),
// escape, escape_once, strip, lstrip, rstrip, append, prepend, replace,
// replace_first, remove, remove_first, size, truncate, url_encode, url_decode,
// newline_to_br, strip_html, strip_newlines, plus, minus, times, divided_by.
// An unknown filter or tag, or a filter given the wrong number of arguments,
// is a parse error. There are no loops, so rendering is linear in the size of
// the template.
//
// # Differences from Shopify Liquid
//
// Rendering stops at the first error (a division by zero, a value beyond the
// output limit) instead of writing "Liquid error: ..." into the output. An
// integral float renders without a fractional part (3, not 3.0), so that
// numbers decoded from JSON print as they were written. A map renders as the
// empty string. The replacement of replace is literal (no \0 or \1). A
// "when" with several matching values renders its body once. url_decode
// replaces invalid UTF-8 with U+FFFD instead of failing. Ordering comparisons
// (<, >, <=, >=) between values that are not both numbers or both strings
// are false rather than errors.
package liquid

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits. Templates within them parse and render in time and memory linear
// in their size.
const (
	// maxSource caps a template's length in bytes.
	maxSource = 64 << 10
	// maxDepth caps the nesting of if, unless and case blocks.
	maxDepth = 32
	// maxOutput caps the rendered output, and any single value produced while
	// rendering, in bytes.
	maxOutput = 256 << 10
	// maxWork caps the bytes that filters, comparisons and output may touch
	// in one rendering, so that a template of many filters over large values
	// fails fast instead of copying hundreds of megabytes.
	maxWork = 16 * maxOutput
)

// SyntaxError is the error Parse returns. Line and Col are 1-based; Col
// counts characters (runes), not bytes.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// RenderError is the error Render returns: a division by zero, an invalid
// argument, a variable of a type Render cannot use, or a limit exceeded.
// Line and Col locate the output, tag or filter that failed.
type RenderError struct {
	Line, Col int
	Msg       string
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// Template is a parsed template. It is immutable: Render may be called from
// several goroutines at once.
type Template struct {
	src   string
	nodes []node
}

// Parse compiles src. Its errors are *SyntaxError.
func Parse(src string) (*Template, error) {
	if len(src) > maxSource {
		return nil, syntaxErrorAt(src, maxSource, fmt.Sprintf("template is %d bytes, more than the %d allowed", len(src), maxSource))
	}
	segs, err := scan(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, segs: segs}
	nodes, end, err := p.parseBody()
	if err != nil {
		return nil, err
	}
	if end != nil {
		// parseBody with no end tags returns only at the end of the input
		// or with an error; an end tag here is a bug.
		return nil, p.errAt(end.pos, fmt.Sprintf("unexpected '%s'", end.name))
	}
	return &Template{src: src, nodes: nodes}, nil
}

// Render evaluates the template with vars: string keys; values string,
// bool, any integer or float type, nil, and map[string]any or
// map[string]string for objects such as application (application.name).
// Assignments made by the template do not change vars. Its errors are
// *RenderError.
func (t *Template) Render(vars map[string]any) (string, error) {
	r := &renderer{t: t, vars: vars}
	if err := r.render(t.nodes); err != nil {
		return "", err
	}
	return r.out.String(), nil
}

// position converts a byte offset of src to a 1-based line and a 1-based
// column counted in runes.
func position(src string, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	before := src[:off]
	line = 1 + strings.Count(before, "\n")
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCountInString(before[lineStart:])
}

func syntaxErrorAt(src string, off int, msg string) *SyntaxError {
	line, col := position(src, off)
	return &SyntaxError{Line: line, Col: col, Msg: msg}
}
