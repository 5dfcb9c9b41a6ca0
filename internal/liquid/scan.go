package liquid

import (
	"fmt"
	"strings"
)

// The first pass splits the source into text, outputs ({{ }}) and tags
// ({% %}), applies whitespace control, and resolves raw and comment blocks,
// whose bodies are not Liquid. Every search moves forward through the source,
// so the pass is linear in its length.

type segKind uint8

const (
	segText segKind = iota
	segOutput
	segTag
)

type segment struct {
	kind segKind
	pos  int    // offset of the text, or of "{{" / "{%"
	text string // the text, or an output's markup
	mpos int    // offset of an output's markup
	name string // a tag's name
	args string // a tag's markup after its name
	apos int    // offset of args
}

// delim is one {{ }} or {% %} found in the source.
type delim struct {
	pos       int    // offset of "{{" or "{%"
	end       int    // offset just past "}}" or "%}"
	markup    string // between the delimiters, without whitespace-control dashes
	mpos      int
	openTrim  bool // "{{-" or "{%-"
	closeTrim bool // "-}}" or "-%}"
}

// tagName splits a tag's markup into its name and the rest. The name of an
// inline comment ({% # ... %}) is "#". An empty name means there is none.
func (d delim) tagName() (name, args string, apos int) {
	m := d.markup
	i := 0
	for i < len(m) && isSpace(m[i]) {
		i++
	}
	start := i
	if i < len(m) && m[i] == '#' {
		i++
	} else if i < len(m) && isIdentStart(m[i]) {
		for i < len(m) && (isIdentStart(m[i]) || isDigit(m[i])) {
			i++
		}
	}
	return m[start:i], m[i:], d.mpos + i
}

// delimBetween describes the delimiter opening at pos ("{{" or "{%") whose
// closer starts at closer.
func delimBetween(src string, pos, closer int) delim {
	d := delim{pos: pos, end: closer + 2}
	start := pos + 2
	if start < closer && src[start] == '-' {
		d.openTrim = true
		start++
	}
	mend := closer
	if mend > start && src[mend-1] == '-' {
		d.closeTrim = true
		mend--
	}
	d.markup, d.mpos = src[start:mend], start
	return d
}

// delimAt reads the delimiter opening at pos. ok is false when it is never
// closed.
func delimAt(src string, pos int) (d delim, ok bool) {
	closer := "}}"
	if src[pos+1] == '%' {
		closer = "%}"
	}
	from := pos + 2
	if from < len(src) && src[from] == '-' {
		from++ // so that "{%-%}" is not its own closer
	}
	k := strings.Index(src[from:], closer)
	if k < 0 {
		return delim{}, false
	}
	return delimBetween(src, pos, from+k), true
}

// nextDelim returns the offset of the next "{{" or "{%" at or after i, or -1.
func nextDelim(src string, i int) int {
	for i < len(src) {
		k := strings.IndexByte(src[i:], '{')
		if k < 0 {
			return -1
		}
		i += k
		if i+1 < len(src) && (src[i+1] == '{' || src[i+1] == '%') {
			return i
		}
		i++
	}
	return -1
}

// nextTag finds the next tag at or after i the way Liquid's tokenizer does:
// a token runs from "{%" to the first "%}", and when the token holds another
// "{%" the last one starts the tag ("{% a {% endraw %}" ends a raw block).
// ok is false when no tag is closed after i.
func nextTag(src string, i int) (d delim, ok bool) {
	k := strings.Index(src[i:], "{%")
	if k < 0 {
		return delim{}, false
	}
	start := i + k
	c := strings.Index(src[start+2:], "%}")
	if c < 0 {
		return delim{}, false
	}
	closer := start + 2 + c
	last := start + strings.LastIndex(src[start:closer], "{%")
	return delimBetween(src, last, closer), true
}

// scan splits src into segments.
func scan(src string) ([]segment, error) {
	var segs []segment
	trimNext := false
	i := 0
	for {
		j := nextDelim(src, i)
		end := j
		if j < 0 {
			end = len(src)
		}
		text, tpos := src[i:end], i
		if trimNext {
			t := trimLeftSpace(text)
			tpos += len(text) - len(t)
			text = t
		}
		if j >= 0 && j+2 < len(src) && src[j+2] == '-' {
			text = trimRightSpace(text)
		}
		if text != "" {
			segs = append(segs, segment{kind: segText, pos: tpos, text: text})
		}
		if j < 0 {
			return segs, nil
		}
		d, ok := delimAt(src, j)
		if !ok {
			if src[j+1] == '{' {
				return nil, syntaxErrorAt(src, j, "'{{' is not closed by '}}'")
			}
			return nil, syntaxErrorAt(src, j, "'{%' is not closed by '%}'")
		}
		trimNext = d.closeTrim
		i = d.end
		if src[j+1] == '{' {
			segs = append(segs, segment{kind: segOutput, pos: j, text: d.markup, mpos: d.mpos})
			continue
		}
		name, args, apos := d.tagName()
		switch name {
		case "#":
			// An inline comment: nothing to render.
		case "raw":
			if strings.TrimSpace(args) != "" {
				return nil, syntaxErrorAt(src, apos+len(args)-len(trimLeftSpace(args)), "'raw' takes no arguments")
			}
			endraw, ok := findEndraw(src, d.end)
			if !ok {
				return nil, syntaxErrorAt(src, j, "'raw' tag was never closed by 'endraw'")
			}
			body := src[d.end:endraw.pos]
			if d.closeTrim {
				body = trimLeftSpace(body)
			}
			if endraw.openTrim {
				body = trimRightSpace(body)
			}
			if body != "" {
				segs = append(segs, segment{kind: segText, pos: d.end, text: body})
			}
			trimNext, i = endraw.closeTrim, endraw.end
		case "comment":
			end, err := skipComment(src, d)
			if err != nil {
				return nil, err
			}
			trimNext, i = end.closeTrim, end.end
		default:
			segs = append(segs, segment{kind: segTag, pos: j, name: name, args: args, apos: apos})
		}
	}
}

// findEndraw finds the endraw tag closing a raw block whose body starts at i.
func findEndraw(src string, i int) (delim, bool) {
	for {
		d, ok := nextTag(src, i)
		if !ok {
			return delim{}, false
		}
		if name, _, _ := d.tagName(); name == "endraw" {
			return d, true
		}
		i = d.end
	}
}

// skipComment finds the endcomment tag closing the comment opened by open.
// Comments nest, and a raw block inside a comment is skipped whole, so
// "{% raw %}{% endcomment %}{% endraw %}" does not end the comment.
func skipComment(src string, open delim) (delim, error) {
	depth := 1
	i := open.end
	for {
		d, ok := nextTag(src, i)
		if !ok {
			return delim{}, syntaxErrorAt(src, open.pos, "'comment' tag was never closed by 'endcomment'")
		}
		i = d.end
		switch name, _, _ := d.tagName(); name {
		case "comment":
			depth++
		case "endcomment":
			depth--
			if depth == 0 {
				return d, nil
			}
		case "raw":
			endraw, ok := findEndraw(src, d.end)
			if !ok {
				return delim{}, syntaxErrorAt(src, d.pos, "'raw' tag was never closed by 'endraw'")
			}
			i = endraw.end
		}
	}
}

// Expression tokens.

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tFloat
	tDot
	tLBrack
	tRBrack
	tPipe
	tColon
	tComma
	tAssign // =
	tCmp    // == != <> < > <= >=
	tOther  // ( ) and anything Liquid does not know here
)

type token struct {
	kind tokKind
	s    string // the token's text; a string's contents without quotes
	pos  int    // offset in the template
	i    int64
	f    float64
}

// lexExpr splits markup, found at offset base of src, into tokens ending
// with tEOF.
func lexExpr(src, markup string, base int) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(markup) && isSpace(markup[i]) {
			i++
		}
		if i == len(markup) {
			return append(toks, token{kind: tEOF, pos: base + i}), nil
		}
		start := i
		c := markup[i]
		t := token{pos: base + i}
		switch {
		case isIdentStart(c):
			i++
			for i < len(markup) && (isIdentStart(markup[i]) || isDigit(markup[i]) || markup[i] == '-') {
				i++
			}
			if i < len(markup) && markup[i] == '?' {
				i++
			}
			t.kind, t.s = tIdent, markup[start:i]
		case isDigit(c) || (c == '-' && i+1 < len(markup) && isDigit(markup[i+1])):
			i++
			for i < len(markup) && isDigit(markup[i]) {
				i++
			}
			if i+1 < len(markup) && markup[i] == '.' && isDigit(markup[i+1]) {
				i++
				for i < len(markup) && isDigit(markup[i]) {
					i++
				}
				t.kind, t.s = tFloat, markup[start:i]
				f, ok := parseFloatLiteral(t.s)
				if !ok {
					return nil, syntaxErrorAt(src, t.pos, fmt.Sprintf("number %s is out of range", clip(t.s)))
				}
				t.f = f
			} else {
				t.kind, t.s = tInt, markup[start:i]
				n, ok := parseIntLiteral(t.s)
				if !ok {
					return nil, syntaxErrorAt(src, t.pos, fmt.Sprintf("number %s is out of range", clip(t.s)))
				}
				t.i = n
			}
		case c == '"' || c == '\'':
			k := strings.IndexByte(markup[i+1:], c)
			if k < 0 {
				return nil, syntaxErrorAt(src, t.pos, "string is not closed")
			}
			t.kind, t.s = tString, markup[i+1:i+1+k]
			i += k + 2
		case c == '=' || c == '!' || c == '<' || c == '>':
			i++
			if i < len(markup) && (markup[i] == '=' || (c == '<' && markup[i] == '>')) {
				i++
			}
			t.s = markup[start:i]
			switch t.s {
			case "=":
				t.kind = tAssign
			case "!":
				return nil, syntaxErrorAt(src, t.pos, "unexpected '!'")
			default:
				t.kind = tCmp
			}
		default:
			i++
			t.s = markup[start:i]
			switch c {
			case '.':
				t.kind = tDot
			case '[':
				t.kind = tLBrack
			case ']':
				t.kind = tRBrack
			case '|':
				t.kind = tPipe
			case ':':
				t.kind = tColon
			case ',':
				t.kind = tComma
			default:
				t.kind = tOther
				// Keep a whole UTF-8 sequence in the message.
				for i < len(markup) && markup[i]&0xC0 == 0x80 {
					i++
				}
				t.s = markup[start:i]
			}
		}
		toks = append(toks, t)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// trimLeftSpace and trimRightSpace implement whitespace control: they strip
// spaces, tabs, line breaks, vertical tabs and form feeds.
func trimLeftSpace(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

func trimRightSpace(s string) string {
	i := len(s)
	for i > 0 && isSpace(s[i-1]) {
		i--
	}
	return s[:i]
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "..."
}
